//! The CNN example as a test: the 8x8 digits as `[1, 8, 8]` images, on the same test
//! split as the MLP of `tests/digits.rs`.

#[path = "../examples/cnn.rs"]
mod example;

#[test]
fn the_digits_cnn_reaches_98_percent_test_accuracy() {
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
    let epochs = &report.trainer.history().epochs;
    assert_eq!(epochs.len(), 30);
    assert!(epochs[29].train_loss < epochs[0].train_loss / 10.0);
}
