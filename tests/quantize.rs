//! Post-training int8 quantization of the digits MLP: within one percentage point of the
//! float network's test accuracy, with weights about 4x smaller.

#[path = "../examples/quantize_digits.rs"]
mod example;

#[test]
fn the_int8_digits_mlp_keeps_the_float_accuracy() {
    let report = example::run();
    assert_eq!(report.test_samples, 359);
    assert!(
        report.float_accuracy >= 0.94,
        "f32 {}",
        report.float_accuracy
    );
    assert!(
        (report.float_accuracy - report.int8_accuracy).abs() <= 0.01,
        "f32 {}, int8 {}",
        report.float_accuracy,
        report.int8_accuracy
    );
    assert!(report.float_weight_bytes as f64 / report.int8_weight_bytes as f64 > 3.8);
}
