//! The firmware's report under QEMU equals the same code run natively, bit for bit, on
//! a Cortex-M4F, a Cortex-M3 and a Cortex-M0, and a deliberately perturbed device build
//! is caught.
//!
//! Needs `qemu-system-arm` and the firmware ELFs built first (`.ci/run` does both), run
//! from `examples/firmware`:
//! `cargo build --release -p firmware-device --target <target>` for
//! `thumbv7em-none-eabihf`, `thumbv7m-none-eabi` and `thumbv6m-none-eabi`, and
//! `cargo build --release -p firmware-device --target thumbv7m-none-eabi --features
//! perturb --target-dir target/perturb`. The ELFs are looked up in `$CARGO_TARGET_DIR`
//! when it is set, and must be newer than every source cargo recorded for them (their
//! dep-info files), so that a stale binary is never compared.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn native() -> String {
    let mut text = String::new();
    report::report(&mut text).expect("the native report fails its own checks");
    text
}

/// The firmware workspace's target directory.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// The sources the ELF was built from, as cargo recorded them in the dep-info file
/// beside it (`firmware-device.d`): only what the build read, so an edit elsewhere
/// (a std-only module of the facade) does not count.
fn sources(elf: &Path) -> Vec<PathBuf> {
    let info = elf.with_extension("d");
    let text = std::fs::read_to_string(&info)
        .unwrap_or_else(|e| panic!("{} is missing ({e}): rebuild the ELF", info.display()));
    let (_, deps) = text
        .split_once(": ")
        .unwrap_or_else(|| panic!("{} is not a dep-info file", info.display()));
    // Paths are separated by spaces; a space inside a path is escaped as `\ `.
    deps.replace("\\ ", "\u{0}")
        .split_whitespace()
        .map(|p| PathBuf::from(p.replace('\u{0}', " ")))
        .collect()
}

/// The ELF for `target`, checked to be newer than every source it was built from (the
/// dep-info's, and the proc macro's).
fn elf(target: &str, subdir: Option<&str>) -> PathBuf {
    let mut dir = target_dir();
    if let Some(subdir) = subdir {
        dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(subdir);
    }
    let elf = dir.join(target).join("release/firmware-device");
    assert!(
        elf.exists(),
        "{} is missing: build it with `cargo build --release -p firmware-device --target {target}`",
        elf.display()
    );
    let built = std::fs::metadata(&elf).unwrap().modified().unwrap();
    let mut sources = sources(&elf);
    assert!(
        sources.len() > 10,
        "too few sources recorded for {}",
        elf.display()
    );
    // The proc macro's sources are not in the dep-info of what it generated.
    let macros = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../network-macros/src");
    let mut dirs = vec![macros];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(path);
            }
        }
    }
    for source in sources {
        let changed = std::fs::metadata(&source)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("{}: {e}: rebuild {}", source.display(), elf.display()));
        assert!(
            changed <= built,
            "{} is older than {}: rebuild it before comparing",
            elf.display(),
            source.display()
        );
    }
    elf
}

/// Runs `elf` on `machine` with a timeout; returns whether it exited with success, and
/// its standard output.
fn qemu(elf: &Path, cpu: &str, machine: &str) -> (bool, String) {
    let mut child = Command::new("qemu-system-arm")
        .args(["-cpu", cpu, "-machine", machine, "-display", "none"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm is not installed (apt-get install qemu-system-arm)");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            return (status.success(), String::from_utf8(output.stdout).unwrap());
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("firmware on {machine} did not exit within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The device's report without its `#` measurement lines.
fn compared(device: &str) -> String {
    let measured: Vec<&str> = device.lines().filter(|l| l.starts_with('#')).collect();
    assert!(!measured.is_empty(), "no stack measurement in:\n{device}");
    device
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn same_bits(target: &str, cpu: &str, machine: &str) {
    let (ok, device) = qemu(&elf(target, None), cpu, machine);
    assert!(ok, "firmware on {machine} failed:\n{device}");
    let native = native();
    assert!(native.lines().count() > 10);
    // The trained weights are part of the report: a skipped or changed update shows.
    assert!(native.contains("trained hidden.weight:"));
    assert_eq!(
        compared(&device),
        native,
        "the device computed different bits"
    );
}

#[test]
fn cortex_m4f_computes_the_same_bits_as_the_host() {
    same_bits("thumbv7em-none-eabihf", "cortex-m4", "mps2-an386");
}

#[test]
fn cortex_m3_computes_the_same_bits_as_the_host() {
    same_bits("thumbv7m-none-eabi", "cortex-m3", "mps2-an385");
}

#[test]
fn cortex_m0_computes_the_same_bits_as_the_host() {
    same_bits("thumbv6m-none-eabi", "cortex-m0", "microbit");
}

#[test]
fn a_device_that_skips_the_last_training_update_is_caught() {
    // Built with `--features perturb`: identical losses (the last one is computed
    // before the update it skips), different trained weights.
    let (ok, device) = qemu(
        &elf("thumbv7m-none-eabi", Some("perturb")),
        "cortex-m3",
        "mps2-an385",
    );
    assert!(ok, "the perturbed firmware failed to run:\n{device}");
    let (device, native) = (compared(&device), native());
    let losses = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("loss"))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        losses(&device),
        losses(&native),
        "the losses alone would miss it"
    );
    assert_ne!(device, native, "the comparison missed a skipped update");
}

#[test]
fn footprint_of_tinyminds_example_network() {
    // 2-5-1 in f64: 2*5 + 5 + 5*1 + 1 = 21 parameters of 8 bytes; the tape holds the 5 + 1
    // layer outputs of one sample. tinymind publishes 360 bytes to infer and 1,008 to train.
    use report::TinymindNet;
    assert_eq!(TinymindNet::<f64>::PARAMS, 21);
    assert_eq!(TinymindNet::<f64>::PARAM_BYTES, 168);
    assert_eq!(TinymindNet::<f64>::tape_bytes(1), 48);
    assert_eq!(std::mem::size_of::<TinymindNet<f64>>(), 168);
}
