#!/usr/bin/env bash
# The SIMD kernels under Miri, with the instructions they use compiled in, so that Miri
# checks every pointer and load of the AVX2 + FMA code (Miri has no AVX-512, so the
# AVX-512 kernels are not run here; they share the tiling code checked here).
#
# Runs the kernel tests of network-core (`simd::`) and the f32 dense layer products that
# call them (`dense::`), with smaller shapes under `cfg(miri)`, and the recurrent cells
# compiled for AVX2 (`recurrent::`). The slow ulp sweeps of the
# activations are not kernel tests and are left out. Needs nightly with the miri
# component (`rustup +nightly component add miri rust-src`); about 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="-C target-feature=+avx2,+fma"
export CARGO_TARGET_DIR=target/miri
cargo +nightly miri test -p network-core --features simd --lib -- simd:: dense::tests::f32_batch \
    recurrent::tests::the_vectorized_cells quant::tests::the_vectorized_int8_layer \
    quant::conv::tests::the_int8_convolution
# The thread pool of `network::parallel`: its workers read the caller's batch and
# network through pointers while the caller waits.
cargo +nightly miri test -p network --lib -- parallel::
