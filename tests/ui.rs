//! Compile-time behaviour of `network!`: declarations that must compile, and mistakes
//! that must be spanned compile errors (snapshots in `tests/ui/**/*.stderr`, stable
//! because `rust-toolchain.toml` pins the compiler). Regenerate after an intended change
//! with `TRYBUILD=overwrite cargo test --test ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/sizes/*.rs");
    t.compile_fail("tests/ui/layers/*.rs");
    t.compile_fail("tests/ui/declaration/*.rs");
    // Shaped inputs, convolutions and pooling: one spanned error naming layers and shapes.
    t.compile_fail("tests/ui/shapes/*.rs");
    // Representative cases of the macro corpus (tests/macro-corpus): one error each, on
    // the mistake, and none in the code that uses the network.
    t.compile_fail("tests/ui/strict/*.rs");
}
