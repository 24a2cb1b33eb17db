//! `cfg(network_arm_dsp)` on Cortex-M4/M7 targets (`thumbv7em-*`), whose DSP extension
//! (`SMLAD`, `SXTB16`) the int8 kernels use. Stable Rust does not expose Arm's `dsp`
//! target feature to `cfg`, so the target's name decides.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(network_arm_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em-") {
        println!("cargo::rustc-cfg=network_arm_dsp");
    }
}
