#!/usr/bin/env python3
"""The PyTorch twins of `tests/pytorch_conv.rs`' convolutional networks.

    python examples/pytorch/torch_conv_twin.py export   # PyTorch -> fixtures the Rust test loads
    python examples/pytorch/torch_conv_twin.py check    # Rust-written files -> load in PyTorch

`export` builds a Conv1d twin and a Conv2d twin (seeded initialization, batch norm's
running statistics moved by three training passes), and writes under
tests/fixtures/pytorch/, for each twin and each of float32 and float64:

  conv{1,2}d-{f32,f64}.safetensors     the state dict (safetensors.torch.save_file)
  conv{1,2}d-{f32,f64}-io.safetensors  "inputs" [n, C, ...], "targets" [n] (class
      indices, as float), "eval" (outputs in eval mode), and from one training-mode
      forward pass with mean cross-entropy: "loss" [1], "grad.input" and
      "grad.<parameter>" for every parameter

`tests/pytorch_conv.rs` loads each state dict into its `network!` twin and must reproduce
the outputs, the loss and every gradient: within 1e-5 (relative, f32) and 1e-10 (f64).

`check [DIR]` loads conv{1,2}d-from-rust.safetensors (written by that test into
target/tmp/pytorch-conv/, or DIR) into the twins with load_state_dict(strict=True) and
compares the eval outputs with the ones Rust computed (in the companion
conv{1,2}d-from-rust-io.safetensors). Exits 1 on any difference above 1e-5.

Needs: pip install torch safetensors numpy
"""
import pathlib
import sys
from collections import OrderedDict

import torch
from safetensors.torch import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "pytorch"


def conv1d_twin():
    # network! { Input<2, 12>, a: Conv1d<4, 3>(padding = 1), Relu, bn: BatchNorm,
    #   b: Conv1d<6, 3>(stride = 2, dilation = 2, groups = 2, bias = false), Tanh,
    #   MaxPool1d<2>, AvgPool1d<2>(stride = 1), Flatten, fc: Dense<6, 3> }
    return torch.nn.Sequential(OrderedDict([
        ("a", torch.nn.Conv1d(2, 4, 3, padding=1)),
        ("a_relu", torch.nn.ReLU()),
        ("bn", torch.nn.BatchNorm1d(4)),
        ("b", torch.nn.Conv1d(4, 6, 3, stride=2, dilation=2, groups=2, bias=False)),
        ("b_tanh", torch.nn.Tanh()),
        ("pool1", torch.nn.MaxPool1d(2)),
        ("pool2", torch.nn.AvgPool1d(2, stride=1)),
        ("flatten", torch.nn.Flatten()),
        ("fc", torch.nn.Linear(6, 3)),
    ]))


def conv2d_twin():
    # network! { Input<3, 7, 6>, a: Conv2d<4, 3>(padding = "same"), Elu,
    #   MaxPool2d<2>(padding = (1, 0)),
    #   b: Conv2d<4, 2, 3>(groups = 4, stride = (2, 1), padding = (0, 1)),
    #   bn: BatchNorm, Relu, GlobalAvgPool, fc: Dense<4, 3> }
    return torch.nn.Sequential(OrderedDict([
        ("a", torch.nn.Conv2d(3, 4, 3, padding="same")),
        ("a_elu", torch.nn.ELU()),
        ("pool1", torch.nn.MaxPool2d(2, padding=(1, 0))),
        ("b", torch.nn.Conv2d(4, 4, (2, 3), groups=4, stride=(2, 1), padding=(0, 1))),
        ("bn", torch.nn.BatchNorm2d(4)),
        ("bn_relu", torch.nn.ReLU()),
        ("gap", torch.nn.AdaptiveAvgPool2d(1)),
        ("flatten", torch.nn.Flatten()),
        ("fc", torch.nn.Linear(4, 3)),
    ]))


TWINS = {"conv1d": (conv1d_twin, (2, 12)), "conv2d": (conv2d_twin, (3, 7, 6))}


def export():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, (make, shape) in TWINS.items():
        for dtype, suffix in [(torch.float32, "f32"), (torch.float64, "f64")]:
            torch.manual_seed(7)
            model = make().to(dtype)
            n = 5
            inputs = torch.randn(n, *shape, dtype=dtype)
            targets = torch.tensor([0, 2, 1, 1, 0])
            # Move batch norm's running statistics away from (0, 1).
            model.train()
            with torch.no_grad():
                for _ in range(3):
                    model(torch.randn(n, *shape, dtype=dtype) * 2 + 0.5)
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            save_file(state, FIXTURES / f"{name}-{suffix}.safetensors")
            # Eval outputs with the running statistics.
            model.eval()
            with torch.no_grad():
                evaluated = model(inputs)
            # One training-mode pass: loss and gradients (batch statistics). It moves
            # the running statistics once more, after the state dict was saved.
            model.train()
            x = inputs.clone().requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(x), targets)
            loss.backward()
            io = {
                "inputs": inputs,
                "targets": targets.to(dtype),
                "eval": evaluated,
                "loss": loss.detach().reshape(1),
                "grad.input": x.grad,
            }
            for pname, p in model.named_parameters():
                io["grad." + pname] = p.grad
            save_file({k: v.contiguous() for k, v in io.items()},
                      FIXTURES / f"{name}-{suffix}-io.safetensors")
            print(f"{name} {suffix}: loss {loss.item():.6f}")


def check():
    where = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "target" / "tmp" / "pytorch-conv"
    worst = 0.0
    for name, (make, shape) in TWINS.items():
        model = make()
        state = load_file(where / f"{name}-from-rust.safetensors")
        model.load_state_dict(state, strict=True)
        model.eval()
        io = load_file(where / f"{name}-from-rust-io.safetensors")
        with torch.no_grad():
            out = model(io["inputs"].reshape(-1, *shape))
        diff = (out - io["outputs"]).abs().max().item()
        print(f"{name}: strict load ok, largest difference {diff:.2e}")
        worst = max(worst, diff)
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    {"export": export, "check": check}[sys.argv[1]]()
