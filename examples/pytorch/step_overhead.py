#!/usr/bin/env python3
"""One SGD training step of the 4-16-16-3 network (ReLU, softmax cross-entropy, one
sample) here and in PyTorch, in one run: the reason this project has no GPU backend.

    python3 examples/pytorch/step_overhead.py

Runs `cargo bench --bench tiny` for the generated fused step (criterion's median), then
times the same step in PyTorch eager mode (zero_grad, forward, cross-entropy, backward,
SGD step; one thread; the median of 15 rounds of 2000 steps after a warm-up), on the
CPU and, where one exists, on a CUDA GPU (synchronized after each round). Prints the
times and PyTorch's time as a multiple of ours.

Needs: pip install torch
"""
import json
import pathlib
import statistics
import subprocess
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]


def ours_ns():
    subprocess.run(
        ["cargo", "bench", "--bench", "tiny", "--", "tiny_4-16-16-3_sgd_step/generated"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )
    path = ROOT / "target" / "criterion" / "tiny_4-16-16-3_sgd_step" / "generated" / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def torch_ns(device):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    ).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.tensor([[0.5, -0.25, 0.125, 1.0]], device=device)
    y = torch.tensor([1], device=device)

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2000):
        step()
    synchronize()
    rounds = []
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(2000):
            step()
        synchronize()
        rounds.append((time.perf_counter() - start) / 2000 * 1e9)
    return statistics.median(rounds)


def main():
    torch.set_num_threads(1)
    ours = ours_ns()
    rows = [("generated fused step (`backward_sgd`), this CPU", ours)]
    rows.append((f"PyTorch {torch.__version__} eager, CPU, 1 thread", torch_ns(torch.device("cpu"))))
    if torch.cuda.is_available():
        rows.append((f"PyTorch eager, {torch.cuda.get_device_name()}", torch_ns(torch.device("cuda"))))
    print("| 4-16-16-3, one SGD step, one sample | time | of ours |")
    print("|---|---|---|")
    for name, ns in rows:
        shown = f"{ns / 1000:.2f} us" if ns >= 1000 else f"{ns:.0f} ns"
        print(f"| {name} | {shown} | {ns / ours:.0f}x |")


if __name__ == "__main__":
    main()
