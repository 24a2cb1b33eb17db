#!/usr/bin/env python3
"""The generated PyTorch modules of `tests/pytorch_module.rs`, both ways.

    UPDATE_EXPECT=1 WRITE_PYTORCH_FIXTURES=1 cargo test --test pytorch_module  # sources, Rust-trained weights
    python examples/pytorch/module_roundtrip.py                               # PyTorch's side
    cargo test --test pytorch_module                                          # the proof

For each twin (tabular, image, signal, recurrent) this imports the module source the Rust network
generated (`tests/fixtures/pytorch/module/<net>.py`, snapshot-tested there) and:

1. loads the state dict Rust trained and wrote (`<net>-rust.safetensors`) with
   `load_state_dict(strict=True)` and records its eval outputs on 16 inputs
   (`<net>-rust-torch-io.safetensors`), which the Rust network must reproduce;
2. trains a fresh module here (train mode: batch statistics, dropout; Adam, 40 steps,
   starting from `reset_parameters`, the Rust initialization rules) and writes its state
   dict (`<net>-torch.safetensors`) and its eval outputs (`<net>-torch-io.safetensors`),
   which must load into the Rust network and give the same predictions.

Needs: pip install torch safetensors numpy
"""
import importlib.util
import pathlib

import numpy as np
import torch
from safetensors.torch import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIR = ROOT / "tests" / "fixtures" / "pytorch" / "module"
NETS = {"tabular": "Tabular", "image": "Image", "signal": "Signal", "recurrent": "Recurrent"}


def module_class(name, cls):
    spec = importlib.util.spec_from_file_location(f"generated_{name}", DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, cls)


def uniform(rng, rows, cols):
    return torch.tensor(rng.uniform(-2.0, 2.0, (rows, cols)), dtype=torch.float32)


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    for name, cls in NETS.items():
        Module = module_class(name, cls)
        n_in = int(np.prod(Module.input_shape))
        x = uniform(rng, 16, n_in)

        # 1. Rust -> PyTorch: a strict load, then eval outputs.
        model = Module()
        model.load_state_dict(load_file(DIR / f"{name}-rust.safetensors"), strict=True)
        model.eval()
        with torch.no_grad():
            outputs = model(x)
        save_file({"inputs": x, "outputs": outputs.contiguous()}, DIR / f"{name}-rust-torch-io.safetensors")

        # 2. PyTorch -> Rust: train the generated module, save its state dict.
        model = Module()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        model.train()
        for step in range(40):
            xb = uniform(rng, 32, n_in)
            yb = torch.zeros(32, Module.outputs)
            yb[torch.arange(32), (xb[:, 0] > 0).long() + (xb[:, 1] > 0).long()] = 1.0
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            outputs = model(x)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, DIR / f"{name}-torch.safetensors")
        save_file({"inputs": x, "outputs": outputs.contiguous()}, DIR / f"{name}-torch-io.safetensors")
        print(f"torch {torch.__version__}, {name}: {len(state)} tensors, trained loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
