#!/usr/bin/env python3
"""PyTorch's GRU and LSTM for `tests/pytorch_rnn.rs`: the recurrent layers of
`network_core::layers::recurrent` must reproduce their outputs and every gradient.

    python examples/pytorch/torch_rnn_twin.py

Writes tests/fixtures/pytorch/{gru,lstm}-{f32,f64}.safetensors: the layer's state dict
(`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`), `inputs` [4, 6, 3]
(batch_first), `outputs` [4, 6, 5] (every step), `probe` [4, 6, 5], and the gradients of
sum(outputs * probe) with respect to every parameter (`grad.<name>`) and the inputs
(`grad.inputs`).

Needs: pip install torch safetensors
"""
import pathlib

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "pytorch"


def export(kind, dtype, suffix):
    torch.manual_seed(7)
    layer = getattr(torch.nn, kind)(3, 5, batch_first=True).to(dtype)
    inputs = (torch.rand(4, 6, 3, dtype=dtype) * 4 - 2).requires_grad_()
    probe = torch.rand(4, 6, 5, dtype=dtype) * 2 - 1
    outputs, _ = layer(inputs)
    (outputs * probe).sum().backward()
    tensors = {k: v.detach().contiguous() for k, v in layer.state_dict().items()}
    tensors.update({f"grad.{k}": v.grad.contiguous() for k, v in layer.named_parameters()})
    tensors.update(
        inputs=inputs.detach().contiguous(),
        outputs=outputs.detach().contiguous(),
        probe=probe.contiguous(),
    )
    tensors["grad.inputs"] = inputs.grad.contiguous()
    save_file(tensors, FIXTURES / f"{kind.lower()}-{suffix}.safetensors")


if __name__ == "__main__":
    for kind in ["GRU", "LSTM"]:
        for dtype, suffix in [(torch.float32, "f32"), (torch.float64, "f64")]:
            export(kind, dtype, suffix)
    print(f"torch {torch.__version__}: wrote {FIXTURES}/{{gru,lstm}}-{{f32,f64}}.safetensors")
