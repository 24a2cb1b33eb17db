#!/usr/bin/env bash
# How long `network!` networks take to compile as they grow in depth and width: builds a
# throwaway crate per configuration (debug, incremental, dependencies prebuilt) and prints
# markdown tables of the seconds an edit-and-rebuild takes: by depth and width, then by
# depth alone up to 256 layers (the goal: 256 layers within 4x the time of 64, that is,
# linear growth). Run from the repository root:
#   scripts/compile-time.sh          # both tables
#   scripts/compile-time.sh depth    # the depth row only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "compile-time"
version = "0.0.0"
edition = "2021"
[dependencies]
network = { path = "$root" }
[workspace]
TOML
export CARGO_TARGET_DIR="$work/target"

# Writes a network of `depth` dense layers of `width` units (plus input 16, output 4).
declare_network() {
    local depth=$1 width=$2
    {
        echo 'use network::prelude::*;'
        echo 'network! { pub struct Net {'
        echo "    l0: Dense<16, $width>, Relu,"
        for ((k = 1; k < depth - 1; k++)); do echo "    l$k: Dense<$width>, Relu,"; done
        echo "    out: Dense<4>,"
        echo '} }'
        echo 'fn main() {'
        echo '    let mut net = network::boxed::random::<f32, Net<f32>, 16, 4>(&mut Rng::seed_from_u64(1));'
        echo '    let mut tape = Net::<f32>::new_tape::<8>();'
        echo '    let mut grads = network::boxed::zeroed::<Net<f32>>();'
        echo '    let x = SMatrix::<f32, 16, 8>::zeros();'
        echo '    let y = SMatrix::<f32, 4, 8>::zeros();'
        echo '    let _ = compute_gradients(&mut *net, &x, &y, &Mse, &mut tape, &mut grads, &mut Rng::seed_from_u64(2));'
        echo "    // $RANDOM"
        echo '}'
    } > "$work/src/main.rs"
}

seconds() {
    local start end
    start=$(date +%s.%N)
    cargo build -q --manifest-path "$work/Cargo.toml"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

declare_network 2 16
cargo build -q --manifest-path "$work/Cargo.toml" # dependencies once
if [ "${1:-}" != depth ]; then
    echo "| layers, width | 16 | 64 | 256 | 1024 |"
    echo "|---|---|---|---|---|"
    for depth in 2 4 6 8 16; do
        row="| $depth |"
        for width in 16 64 256 1024; do
            declare_network "$depth" "$width"
            row="$row $(printf '%.2f' "$(seconds)") s |"
        done
        echo "$row"
    done
fi

echo
echo "| layers (width 16) | 16 | 32 | 64 | 128 | 256 |"
echo "|---|---|---|---|---|---|"
row="| rebuild |"
for depth in 16 32 64 128 256; do
    declare_network "$depth" 16
    row="$row $(printf '%.2f' "$(seconds)") s |"
done
echo "$row"
