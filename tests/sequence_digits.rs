//! The GRU example as a test: the 8x8 digits read row by row as 8 steps of 8 pixels, on
//! the same test split as the MLP of `tests/digits.rs`.

#[path = "../examples/sequence_digits.rs"]
mod example;

#[test]
fn the_digits_gru_reaches_95_percent_test_accuracy() {
    let report = std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| example::train(true).map_err(|e| e.to_string()))
        .unwrap()
        .join()
        .unwrap()
        .expect("training failed");
    assert_eq!(report.test_samples, 359);
    assert!(
        report.test_accuracy >= 0.95,
        "test accuracy {}",
        report.test_accuracy
    );
    let epochs = &report.trainer.history().epochs;
    assert_eq!(epochs.len(), 40);
    assert!(epochs[39].train_loss < epochs[0].train_loss / 10.0);
}
