//! The firmware's report under QEMU equals the same code run natively, bit for bit.
//!
//! Needs `qemu-system-arm` and the firmware ELFs built first (`.ci/run` does both):
//! `cargo build --release -p firmware-device --target thumbv7em-none-eabihf` (and
//! `thumbv7m-none-eabi`), run from `examples/firmware`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn native() -> String {
    let mut text = String::new();
    report::report(&mut text).expect("the native report fails its own checks");
    text
}

/// Runs `elf` on `machine` with a timeout and returns its standard output.
fn qemu(target: &str, cpu: &str, machine: &str) -> String {
    let elf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(target)
        .join("release/firmware-device");
    assert!(
        elf.exists(),
        "{} is missing: build it with `cargo build --release -p firmware-device --target {target}`",
        elf.display()
    );
    let mut child = Command::new("qemu-system-arm")
        .args(["-cpu", cpu, "-machine", machine, "-display", "none"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(&elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm is not installed (apt-get install qemu-system-arm)");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            assert!(
                status.success(),
                "firmware on {machine} exited with {status}:\n{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return stdout;
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("firmware on {machine} did not exit within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn compare(device: &str) {
    let measured: Vec<&str> = device.lines().filter(|l| l.starts_with('#')).collect();
    assert!(!measured.is_empty(), "no stack measurement in:\n{device}");
    let device: String = device
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let native = native();
    assert!(native.lines().count() > 10);
    assert_eq!(device, native, "the device computed different bits");
}

#[test]
fn cortex_m4f_computes_the_same_bits_as_the_host() {
    compare(&qemu("thumbv7em-none-eabihf", "cortex-m4", "mps2-an386"));
}

#[test]
fn cortex_m3_computes_the_same_bits_as_the_host() {
    compare(&qemu("thumbv7m-none-eabi", "cortex-m3", "mps2-an385"));
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
