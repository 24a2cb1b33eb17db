//! The README's main job, run as a test: the Iris example trains from the shipped CSV.

#[path = "../examples/iris.rs"]
mod example;

#[test]
fn iris_reaches_93_percent_test_accuracy_and_the_loss_falls() {
    let report = example::train(example::IRIS_CSV, false).expect("training failed");
    assert_eq!(report.test_samples, 30, "stratified 20% of 150");
    assert!(
        report.test_accuracy >= 0.93,
        "test accuracy {}",
        report.test_accuracy
    );
    let (first, last) = (report.losses[0], *report.losses.last().unwrap());
    assert!(last < first / 5.0, "loss went from {first} to {last}");
    assert!(network::Params::is_finite(&report.net));
}

#[test]
fn a_malformed_csv_is_an_error_naming_the_line() {
    let dir = std::env::temp_dir().join(format!("network-iris-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (text, expected) in [
        (
            "f0,f1,f2,f3,label\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0\n",
            "line 3: expected 5 columns but found 4",
        ),
        (
            "f0,f1,f2,f3,label\n5.1,3.5,abc,0.2,0\n",
            "line 2, column `f2`: `abc` is not a finite number",
        ),
        (
            "f0,f1,f2,label\n5.1,3.5,1.4,0\n",
            "the network takes 4 inputs but the data has 3 features",
        ),
    ] {
        let path = dir.join("bad.csv");
        std::fs::write(&path, text).unwrap();
        let error = example::train(path.to_str().unwrap(), false)
            .err()
            .expect("bad CSV accepted");
        assert_eq!(error.to_string(), expected);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
