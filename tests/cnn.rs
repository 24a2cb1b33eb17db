//! The CNN example as a test: the 8x8 digits as `[1, 8, 8]` images, on the same test
//! split as the MLP of `tests/digits.rs`.

#[path = "../examples/cnn.rs"]
mod example;

#[test]
fn the_digits_cnn_reaches_98_percent_test_accuracy_in_f32_and_int8() {
    // A batch of 32 images keeps every layer's activations and gradients on the stack:
    // about 2 MiB in an unoptimized build, more than a test thread's default.
    let report = std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| example::train(true).map_err(|e| e.to_string()))
        .unwrap()
        .join()
        .unwrap()
        .expect("training failed");
    assert_eq!(report.test_samples, 359);
    assert!(
        report.test_accuracy >= 0.98,
        "test accuracy {}",
        report.test_accuracy
    );
    // int8 (batch norms folded into the convolutions): within one percentage point, and
    // the raw int8 format holds the convolutions too.
    assert!(
        (report.test_accuracy - report.int8_accuracy).abs() <= 0.01,
        "f32 {}, int8 {}",
        report.test_accuracy,
        report.int8_accuracy
    );
    let mut bytes = vec![0u8; example::DigitsCnnInt8::RAW_LEN];
    report.int8.to_raw(&mut bytes).unwrap();
    assert_eq!(
        example::DigitsCnnInt8::from_raw(&bytes).as_ref(),
        Ok(&report.int8)
    );
    let epochs = &report.trainer.history().epochs;
    assert_eq!(epochs.len(), 30);
    assert!(epochs[29].train_loss < epochs[0].train_loss / 10.0);
}
