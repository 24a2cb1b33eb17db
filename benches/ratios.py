#!/usr/bin/env python3
"""Prints generated / hand-written time ratios from criterion's last run.

Both sides of a ratio are measured in the same `cargo bench` run, side by side, so the
ratio is meaningful on a shared, noisy machine where absolute times are not.
Usage: cargo bench --bench train_step && python3 benches/ratios.py
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
if not root.is_dir():
    sys.exit("no criterion results: run `cargo bench --bench train_step` first")

print("| one SGD step | hand-written nalgebra | generated (`backward_overwrite` + `Sgd::step`) | ratio | generated fused (`backward_sgd`) | ratio | best hand-written nalgebra (in place; AVX2/AVX-512 functions) | fused / best |")
print("|---|---|---|---|---|---|---|---|")
def median(group, name):
    data = json.loads((group / name / "new" / "estimates.json").read_text())
    return data["median"]["point_estimate"]


def fmt(ns):
    return f"{ns / 1000:.1f} us" if ns >= 1000 else f"{ns:.0f} ns"


def peaks_of(group):
    """GFLOP/s of each FMA peak microbenchmark in the group (named by its FLOPs)."""
    peaks = {}
    for d in group.iterdir():
        if d.name.startswith("fma_peak_"):
            n = int(d.name.rsplit("_", 2)[-2])
            peaks[d.name.split("_")[2]] = n / median(group, d.name)
    return peaks


for group in sorted(p for p in root.iterdir() if (p / "hand_written_nalgebra").is_dir()):
    hand, generated, fused = (median(group, n) for n in ("hand_written_nalgebra", "generated", "generated_fused_sgd"))
    row = (
        f"| {group.name.removeprefix('sgd_step_')} | {fmt(hand)} | {fmt(generated)} | {generated / hand:.2f}x "
        f"| {fmt(fused)} | {fused / hand:.2f}x |"
    )
    variants = [d.name for d in group.iterdir() if d.name.startswith("hand_written_nalgebra") and (d / "new").is_dir()]
    best = min((median(group, n), n) for n in variants)
    if len(variants) > 1:
        row += f" {fmt(best[0])} ({best[1].removeprefix('hand_written_nalgebra_')}) | {fused / best[0]:.2f}x |"
    else:
        row += " | |"
    print(row)

checkpoint = [p for p in root.iterdir() if (p / "checkpointed").is_dir()]
if checkpoint:
    print()
    print("| training step | plain | checkpointed | overhead |")
    print("|---|---|---|---|")
    for group in sorted(checkpoint):
        plain, checkpointed = median(group, "plain"), median(group, "checkpointed")
        print(f"| {group.name} | {fmt(plain)} | {fmt(checkpointed)} | {checkpointed / plain:.2f}x |")

tiny = [p for p in root.iterdir() if p.name.startswith("tiny_") and (p / "plain_loops").is_dir()]
if tiny:
    print()
    print("| tiny network | hand-written plain loops | generated | ratio | plain loops, crate's tanh | ratio |")
    print("|---|---|---|---|---|---|")
    for group in sorted(tiny):
        plain, generated = median(group, "plain_loops"), median(group, "generated")
        row = f"| {group.name.removeprefix('tiny_')} | {fmt(plain)} | {fmt(generated)} | {generated / plain:.2f}x |"
        if (group / "plain_loops_tanh_f32").is_dir():
            ours = median(group, "plain_loops_tanh_f32")
            row += f" {fmt(ours)} | {generated / ours:.2f}x |"
        else:
            row += " | |"
        print(row)

activations = sorted(p for p in root.iterdir() if p.name.startswith("activation_"))
if activations:
    print()
    print("| 16 activations | libm | network (branch-free) | ratio |")
    print("|---|---|---|---|")
    for group in activations:
        libm, ours = median(group, "libm"), median(group, "network")
        print(f"| {group.name.removeprefix('activation_')} | {fmt(libm)} | {fmt(ours)} | {ours / libm:.2f}x |")

batch = root / "batch_784-128-10_b32"
if batch.is_dir():
    flops = 2 * (784 * 128 * 32 + 128 * 10 * 32 * 3 + 128 * 784 * 32)
    peaks = peaks_of(batch)
    peak = max(peaks.values()) if peaks else float("nan")
    print()
    print("peaks: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in sorted(peaks.items())))
    print("| 784-128-10, batch 32, one SGD step | time | GFLOP/s | of peak |")
    print("|---|---|---|---|")
    for name in ("matrixmultiply_products", "generated_step", "generated_fused_step"):
        t = median(batch, name)
        print(f"| {name} | {fmt(t)} | {flops / t:.0f} | {100 * flops / t / peak:.0f}% |")
    forward_flops = 2 * (784 * 128 * 32 + 128 * 10 * 32)
    t = median(batch, "generated_forward_train")
    print(f"| generated_forward_train (forward products only) | {fmt(t)} | "
          f"{forward_flops / t:.0f} | {100 * forward_flops / t / peak:.0f}% |")
    mm = median(batch, "matrixmultiply_products")
    print(f"fused step / matrixmultiply: {median(batch, 'generated_fused_step') / mm:.2f}x")

cnn = root / "conv_digits_cnn_b32"
if cnn.is_dir():
    # Products per sample (multiply-adds): conv1 forward and dW; conv2 forward, dW, dX;
    # the dense layer forward, dW, dX. Pooling and activations are not counted.
    step = 2 * 32 * (32 * 9 * 64 * 2 + 64 * 288 * 16 * 3 + 256 * 10 * 3)
    forward = 2 * 32 * (32 * 9 * 64 + 64 * 288 * 16 + 256 * 10)
    peaks = peaks_of(cnn)
    peak = max(peaks.values()) if peaks else float("nan")
    print()
    print("peaks: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in sorted(peaks.items())))
    print("| digits CNN, batch 32 | time | GFLOP/s | of peak |")
    print("|---|---|---|---|")
    for name, flops in (("generated_forward", forward), ("generated_step", step),
                        ("generated_fused_step", step), ("handwritten_direct_step", step),
                        ("matrixmultiply_products", step)):
        t = median(cnn, name)
        print(f"| {name} | {fmt(t)} | {flops / t:.1f} | {100 * flops / t / peak:.0f}% |")
    hand, ours, mm = (median(cnn, n) for n in ("handwritten_direct_step", "generated_step", "matrixmultiply_products"))
    print(f"generated step / hand-written direct loops: {ours / hand:.3f}x; "
          f"/ matrixmultiply products alone: {ours / mm:.2f}x")

signal = root / "conv_signal_b16"
if signal.is_dir():
    ours, hand = median(signal, "generated_forward"), median(signal, "handwritten_direct_forward")
    print()
    print("| 1-d stack [8, 128], batch 16 | generated | hand-written direct loops | ratio |")
    print("|---|---|---|---|")
    print(f"| forward | {fmt(ours)} | {fmt(hand)} | {ours / hand:.3f}x |")
    print(f"| training step (generated only) | {fmt(median(signal, 'generated_step'))} | | |")


inference = sorted(p for p in root.iterdir() if p.name.startswith("inference_"))
if inference:
    print()
    print("| one sample | generated | hand-written, default flags (best) | ratio | hand-written, AVX2/AVX-512 functions (best) | ratio | reading the weights (AVX2) | of that rate |")
    print("|---|---|---|---|---|---|---|---|")
    for group in inference:
        names = [d.name for d in group.iterdir() if (d / "new").is_dir()]
        native_names = [n for n in names if n.endswith("_avx2_fma") or n.endswith("_avx512")]
        needed = {"generated", "read_weights_avx2"}
        if not needed <= set(names) or not native_names or not {"plain_loops", "nalgebra"} & set(names):
            # A run filtered to some of the functions: no row rather than a partial one.
            print(f"| {group.name.removeprefix('inference_')} | (incomplete: run `cargo bench --bench inference` unfiltered) | | | | | | |")
            continue
        ours = median(group, "generated")
        default = min((median(group, n), n) for n in ("plain_loops", "nalgebra") if n in names)
        native = min((median(group, n), n) for n in native_names)
        read = median(group, "read_weights_avx2")
        print(f"| {group.name.removeprefix('inference_')} | {fmt(ours)} | {fmt(default[0])} ({default[1]}) "
              f"| {ours / default[0]:.2f}x | {fmt(native[0])} ({native[1]}) | {ours / native[0]:.2f}x "
              f"| {fmt(read)} | {100 * read / ours:.0f}% |")

parallel = root / "parallel_784-128-10_b256"
if parallel.is_dir():
    one = median(parallel, "one_thread")
    print()
    print("| 784-128-10, batch 256, one SGD step | time | speed-up over one thread |")
    print("|---|---|---|")
    for name in ("one_thread", "threads_2_parts_128", "threads_2_parts_64"):
        t = median(parallel, name)
        print(f"| {name} | {fmt(t)} | {one / t:.2f}x |")
    print("(benches/parallel.py adds PyTorch and NumPy to this table)")
