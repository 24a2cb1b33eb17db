#!/usr/bin/env python3
"""The PyTorch twin of `tests/pytorch.rs`' network, for proof in both directions.

    python examples/pytorch/torch_twin.py export   # PyTorch -> fixture the Rust test loads
    python examples/pytorch/torch_twin.py check    # Rust-written file -> loads in PyTorch

`export` trains the twins briefly on Iris and writes, under tests/fixtures/pytorch/:
  model.safetensors     the plain twin's state dict (safetensors.torch.save_file)
  io.safetensors        "inputs" [n, 4] and PyTorch's "outputs" [n, 3], float32
  model-bn.safetensors  the batch-norm twin's (with running statistics)
  io-bn.safetensors     its outputs in eval mode
`tests/pytorch.rs` loads the model into the `network!` twin and must reproduce the outputs
within 1e-5.

`check` loads from-rust.safetensors and from-rust-bn.safetensors (written by `cargo run
--example export_safetensors`; the second has batch norm and its running statistics) into
the twins with load_state_dict(strict=True) and compares their outputs (in eval mode) on
the inputs of the matching -io files with the outputs Rust computed. Exits 1 on any
difference above 1e-5.

Needs: pip install torch safetensors numpy
"""
import csv
import pathlib
import sys
from collections import OrderedDict

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "pytorch"


def twin():
    # Module names match the `network!` layer names, so the state dict keys are
    # hidden.weight, hidden.bias, deeper.weight, ... as in Rust.
    return torch.nn.Sequential(OrderedDict([
        ("hidden", torch.nn.Linear(4, 16)),
        ("hidden_relu", torch.nn.ReLU()),
        ("deeper", torch.nn.Linear(16, 16)),
        ("deeper_tanh", torch.nn.Tanh()),
        ("logits", torch.nn.Linear(16, 3)),
    ]))


def norm_twin():
    # With batch norm: weight, bias, running_mean, running_var, num_batches_tracked.
    return torch.nn.Sequential(OrderedDict([
        ("hidden", torch.nn.Linear(4, 16)),
        ("hidden_relu", torch.nn.ReLU()),
        ("bn", torch.nn.BatchNorm1d(16)),
        ("logits", torch.nn.Linear(16, 3)),
    ]))


def iris():
    with open(ROOT / "data" / "iris.csv") as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[:4]] for r in rows], dtype=np.float32)
    y = np.array([int(r[4]) for r in rows])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return torch.from_numpy(x), torch.from_numpy(y)


def export():
    torch.manual_seed(0)
    model = twin()
    x, y = iris()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(50):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    inputs = x[::30].contiguous()
    with torch.no_grad():
        outputs = model(inputs)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, FIXTURES / "model.safetensors")
    save_file({"inputs": inputs, "outputs": outputs.contiguous()}, FIXTURES / "io.safetensors")
    print(f"torch {torch.__version__}: trained loss {loss.item():.4f}; wrote {len(inputs)} samples to {FIXTURES}")

    # The batch-norm twin: its running statistics must load too; outputs in eval mode.
    model = norm_twin()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(50):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        outputs = model(inputs)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, FIXTURES / "model-bn.safetensors")
    save_file({"inputs": inputs, "outputs": outputs.contiguous()}, FIXTURES / "io-bn.safetensors")


def check():
    worst = 0.0
    for make, name in [(twin, "from-rust"), (norm_twin, "from-rust-bn")]:
        model = make()
        model.load_state_dict(load_file(FIXTURES / f"{name}.safetensors"), strict=True)
        model.eval()  # batch norm at inference: running statistics
        io = load_file(FIXTURES / f"{name}-io.safetensors")
        with torch.no_grad():
            outputs = model(io["inputs"])
        difference = (outputs - io["outputs"]).abs().max().item()
        print(f"torch {torch.__version__}, {name}: largest difference from Rust's outputs {difference:.3e}")
        worst = max(worst, difference)
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    {"export": export, "check": check}[sys.argv[1] if len(sys.argv) > 1 else "export"]()
