//! Puts the memory map of the board QEMU emulates for this target where cortex-m-rt's
//! `link.x` finds it as `memory.x`: the micro:bit (Cortex-M0) for `thumbv6m-none-eabi`,
//! the mps2 boards (Cortex-M3, Cortex-M4F) otherwise.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let map = if target.starts_with("thumbv6m") {
        "memory-microbit.x"
    } else {
        "memory-mps2.x"
    };
    fs::copy(map, out.join("memory.x")).expect("the memory maps are next to build.rs");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={map}");
    println!("cargo:rerun-if-env-changed=TARGET");
}
