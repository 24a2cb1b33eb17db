//! The digits example as a test: Adam(W) with mini-batches through the trainer.

#[path = "../examples/digits.rs"]
mod example;

#[test]
fn digits_reach_94_percent_test_accuracy() {
    let report = example::train(true).expect("training failed");
    assert_eq!(report.test_samples, 359);
    // The splits partition the data: no test image was trained on.
    assert_eq!(report.test.len(), 359);
    assert!(report.train.iter().all(|i| !report.test.contains(i)));
    assert!(report.train.len() + report.test.len() < report.data.len());
    assert!(
        report.test_accuracy >= 0.94,
        "test accuracy {}",
        report.test_accuracy
    );
    let history = report.trainer.history();
    assert!(history.epochs.last().unwrap().train_loss < history.epochs[0].train_loss / 10.0);
}
