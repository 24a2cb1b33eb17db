#!/usr/bin/env python3
"""One SGD step of 784-128-10 on a batch of 256 (f32, softmax cross-entropy): ours on one
thread and on all the cores, PyTorch and NumPy at their default thread counts, in one run.

    python3 benches/parallel.py

Runs `cargo bench --bench parallel` (criterion medians), then times the same step in
PyTorch eager mode (zero_grad, forward, cross-entropy, backward, SGD step) and in NumPy
(the same products written out: forward, softmax, backward, update), each the median of
15 rounds of 50 steps after a warm-up, on random data of the same shapes. Prints one
table with every time as a multiple of our one-thread step.

Needs: pip install torch numpy
"""
import json
import os
import pathlib
import statistics
import subprocess
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
GROUP = ROOT / "target" / "criterion" / "parallel_784-128-10_b256"
EPOCH = ROOT / "target" / "criterion" / "parallel_trainer_epoch_2048_b256"


def median_ns(group, name):
    path = group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def timed(step, rounds=15, steps=50):
    for _ in range(steps):
        step()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps * 1e9)
    return statistics.median(times)


def torch_step_ns():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    x = torch.rand(256, 784)
    y = torch.arange(256) % 10

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return timed(step)


def numpy_step_ns():
    rng = np.random.default_rng(0)
    w1 = (rng.standard_normal((128, 784)) * 0.05).astype(np.float32)
    b1 = np.zeros((128, 1), np.float32)
    w2 = (rng.standard_normal((10, 128)) * 0.1).astype(np.float32)
    b2 = np.zeros((10, 1), np.float32)
    x = rng.random((784, 256), dtype=np.float32)
    y = np.zeros((10, 256), np.float32)
    y[np.arange(256) % 10, np.arange(256)] = 1.0
    lr = np.float32(1e-6)

    def step():
        nonlocal w1, b1, w2, b2
        h = np.maximum(w1 @ x + b1, 0.0)
        z = w2 @ h + b2
        e = np.exp(z - z.max(axis=0, keepdims=True))
        dz = (e / e.sum(axis=0, keepdims=True) - y) / np.float32(256)
        dw2 = dz @ h.T
        dh = (w2.T @ dz) * (h > 0)
        dw1 = dh @ x.T
        w1 -= lr * dw1
        b1 -= lr * dh.sum(axis=1, keepdims=True)
        w2 -= lr * dw2
        b2 -= lr * dz.sum(axis=1, keepdims=True)

    return timed(step)


def numpy_threads():
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in threadpool_info())
    except ImportError:
        return "its BLAS's default threads"


def main():
    subprocess.run(["cargo", "bench", "--bench", "parallel"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    one = median_ns(GROUP, "one_thread")
    rows = [
        ("ours, one thread (`compute_gradients` + `Sgd::step`)", one),
        ("ours, 2 threads, parts of 128 (`DataParallel::step`: the update on the threads too)", median_ns(GROUP, "threads_2_parts_128_step")),
        ("ours, 2 threads, parts of 128 (`compute_gradients` + `Sgd::step` on one thread)", median_ns(GROUP, "threads_2_parts_128")),
        ("ours, 2 threads, parts of 64", median_ns(GROUP, "threads_2_parts_64")),
        (f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads (default)", torch_step_ns()),
        (f"NumPy {np.__version__}, {numpy_threads()}", numpy_step_ns()),
    ]
    print(f"{os.cpu_count()} CPUs; one SGD step, 784-128-10, batch 256, f32")
    print()
    print("| one SGD step, 784-128-10, batch 256 | time | of ours on one thread |")
    print("|---|---|---|")
    for name, ns in rows:
        print(f"| {name} | {ns / 1000:.0f} us | {ns / one:.2f}x |")
    fit, parallel = median_ns(EPOCH, "fit"), median_ns(EPOCH, "fit_parallel_2_threads")
    print()
    print("| one epoch through the `Trainer`, 2048 samples, batches of 256 | time | of `fit` |")
    print("|---|---|---|")
    print(f"| `fit::<256>` | {fit / 1e6:.2f} ms | 1x |")
    print(f"| `fit_parallel::<256, 128>`, 2 threads | {parallel / 1e6:.2f} ms | {parallel / fit:.2f}x |")


if __name__ == "__main__":
    main()
