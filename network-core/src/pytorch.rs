//! The Python source of a `torch.nn.Module` equivalent to a declared network, and of a
//! training script for it: the hand-off to PyTorch when a data set or a model outgrows
//! one CPU (GPUs, `torchrun` on several processes or machines), and the way back.
//!
//! The module registers one submodule per layer under the layer's name, so its state
//! dict keys are exactly the tensor names of [`Params::PARAM_INFO`](crate::Params) and
//! [`BUFFER_INFO`](crate::Params::BUFFER_INFO) (plus batch norm's
//! `num_batches_tracked`): a safetensors file written by either side loads on the other
//! with `load_state_dict(strict=True)` / `load_safetensors`. Its `forward` takes a batch
//! `[B, IN]` flat like the Rust network (or already shaped `[B, C, ...]`) and has the
//! same semantics: batch norm uses batch statistics in `train()` mode and the running
//! estimates in `eval()` mode, dropout is active only in `train()` mode, and
//! `reset_parameters` draws weights like `random` (He or Xavier uniform with the same
//! fans, zero biases). Residual blocks become additions in `forward`; `#[checkpoint]`
//! does not change values and is not reproduced.
//!
//! Nothing here allocates: both sources are written through `core::fmt`, so
//! `format!("{}", Net::<f32>::pytorch())` or `write!(file, ...)` works anywhere.

use core::fmt::{self, Display, Formatter, Write};

use crate::arch::{ActivationOp, Op, Shape};
use crate::{Init, LayerInfo, Network, Scalar};

/// A declared network as the source of a PyTorch module (print it with `{}`).
#[derive(Clone, Copy, Debug)]
pub struct Module {
    /// The Python class name (the Rust struct's name).
    pub name: &'static str,
    /// The per-sample input shape.
    pub input: &'static [usize],
    /// The forward pass.
    pub ops: &'static [Op],
    /// The layers, for their initialization schemes.
    pub layers: &'static [LayerInfo],
}

impl Module {
    /// The module of network `N`.
    pub fn of<T: Scalar, N: Network<T, IN, OUT>, const IN: usize, const OUT: usize>() -> Self {
        Module {
            name: N::NAME,
            input: N::INPUT_SHAPE,
            ops: N::ARCHITECTURE,
            layers: N::LAYERS,
        }
    }

    /// The training script for this module (print it with `{}`); `module` is the Python
    /// module the class is imported from (`"model"` for `model.py`).
    pub fn training_script(&self, module: &'static str) -> TrainingScript {
        TrainingScript {
            class: self.name,
            module,
        }
    }

    fn init_of(&self, name: &str) -> Init {
        self.layers
            .iter()
            .find(|l| l.name == name)
            .map_or(Init::Xavier, |l| l.init)
    }
}

/// Python's keywords: a layer so named is reached with `getattr`/`setattr` (PyTorch
/// accepts any string as a submodule name, so the state dict keys stay the Rust names).
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn is_keyword(name: &str) -> bool {
    PYTHON_KEYWORDS.contains(&name)
}

/// `self.name`, or `getattr(self, "name")` for a keyword.
struct Get<'a>(&'a str);

impl Display for Get<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if is_keyword(self.0) {
            write!(f, "getattr(self, \"{}\")", self.0)
        } else {
            write!(f, "self.{}", self.0)
        }
    }
}

/// A class name: a keyword gets a trailing underscore.
struct Class<'a>(&'a str);

impl Display for Class<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        if is_keyword(self.0) {
            f.write_char('_')?;
        }
        Ok(())
    }
}

/// The line of `__init__` that registers submodule `name`.
fn register(f: &mut Formatter<'_>, name: &str, module: fmt::Arguments<'_>) -> fmt::Result {
    if is_keyword(name) {
        writeln!(f, "        setattr(self, \"{name}\", {module})")
    } else {
        writeln!(f, "        self.{name} = {module}")
    }
}

/// A tuple literal: `(1, 8, 8)`, `(16,)`.
struct Tuple<'a>(&'a [usize]);

impl Display for Tuple<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('(')?;
        for (k, v) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.0.len() == 1 {
            f.write_char(',')?;
        }
        f.write_char(')')
    }
}

/// A pair for a 2-d layer, the second value alone for a 1-d one.
struct Pair((usize, usize), bool);

impl Display for Pair {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(f, "{}", self.0 .1)
        } else {
            write!(f, "({}, {})", self.0 .0, self.0 .1)
        }
    }
}

/// A Python float literal that reads back as the same `f64` (`0.25`, `1.0`).
struct Float(f64);

impl Display for Float {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Display for Module {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let input = Shape::new(self.input);
        let output = self.ops.iter().fold(input, |s, op| s.after(op));
        writeln!(
            f,
            "# Generated from the `network!` declaration of `{}`: regenerate rather than edit.",
            self.name
        )?;
        writeln!(
            f,
            "# State dict keys are the Rust tensor names: safetensors files load both ways."
        )?;
        writeln!(f, "import torch")?;
        writeln!(f, "import torch.nn.functional as F")?;
        writeln!(f, "from torch import nn")?;
        writeln!(f)?;
        writeln!(f)?;
        writeln!(f, "class {}(nn.Module):", Class(self.name))?;
        writeln!(
            f,
            "    \"\"\"Input {:?} ({} values per sample), output {:?}.\"\"\"",
            input.dims(),
            input.values(),
            output.dims()
        )?;
        writeln!(f)?;
        writeln!(f, "    input_shape = {}", Tuple(input.dims()))?;
        writeln!(f, "    outputs = {}", output.values())?;
        writeln!(f)?;
        writeln!(f, "    def __init__(self):")?;
        writeln!(f, "        super().__init__()")?;
        for op in self.ops {
            self.submodule(f, op)?;
        }
        writeln!(f, "        self.reset_parameters()")?;
        writeln!(f)?;
        writeln!(f, "    def reset_parameters(self):")?;
        writeln!(
            f,
            "        \"\"\"As `random` in Rust: He or Xavier uniform weights, zero biases (recurrent layers: PyTorch's rule).\"\"\""
        )?;
        let mut any = false;
        for op in self.ops {
            let (name, bias) = match *op {
                Op::Dense { name, .. } => (name, true),
                Op::Conv { name, bias, .. } => (name, bias),
                Op::BatchNorm { name, .. }
                | Op::LayerNorm { name, .. }
                | Op::Recurrent { name, .. } => {
                    writeln!(f, "        {}.reset_parameters()", Get(name))?;
                    any = true;
                    continue;
                }
                _ => continue,
            };
            any = true;
            match self.init_of(name) {
                Init::He => writeln!(
                    f,
                    "        nn.init.kaiming_uniform_({}.weight, nonlinearity=\"relu\")",
                    Get(name)
                )?,
                Init::Xavier => {
                    writeln!(f, "        nn.init.xavier_uniform_({}.weight)", Get(name))?
                }
            }
            if bias {
                writeln!(f, "        nn.init.zeros_({}.bias)", Get(name))?;
            }
        }
        if !any {
            writeln!(f, "        pass")?;
        }
        writeln!(f)?;
        writeln!(f, "    def forward(self, x):")?;
        if input.len > 1 {
            writeln!(
                f,
                "        h = x.reshape(x.shape[0], {})",
                Args(input.dims())
            )?;
        } else {
            writeln!(f, "        h = x")?;
        }
        let mut shape = input;
        for op in self.ops {
            self.step(f, op, shape)?;
            shape = shape.after(op);
        }
        if shape.len > 1 {
            writeln!(f, "        return h.flatten(1)")
        } else {
            writeln!(f, "        return h")
        }
    }
}

/// `1, 8, 8`: the values of a tuple as call arguments.
struct Args<'a>(&'a [usize]);

impl Display for Args<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (k, v) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl Module {
    /// The line of `__init__` that creates `op`'s submodule, if it has one.
    fn submodule(&self, f: &mut Formatter<'_>, op: &Op) -> fmt::Result {
        match *op {
            Op::Dense {
                name,
                inputs,
                outputs,
                ..
            } => register(f, name, format_args!("nn.Linear({inputs}, {outputs})")),
            Op::Conv {
                name,
                geometry: g,
                one_d,
                bias,
            } => {
                // Symmetric padding is the layer's own; any other (PyTorch's "same" with
                // an even kernel, causal) is an explicit `F.pad` in `forward`.
                let padding = if symmetric(g.pad_h, g.pad_w) {
                    (g.pad_h.0, g.pad_w.0)
                } else {
                    (0, 0)
                };
                register(
                    f,
                    name,
                    format_args!(
                    "nn.Conv{}d({}, {}, {}, stride={}, padding={}, dilation={}, groups={}, bias={})",
                    if one_d { 1 } else { 2 },
                    g.in_channels,
                    g.out_channels,
                    Pair(g.kernel, one_d),
                    Pair(g.stride, one_d),
                    Pair(padding, one_d),
                    Pair(g.dilation, one_d),
                    g.groups,
                    if bias { "True" } else { "False" },
                ),
                )
            }
            Op::MaxPool {
                name,
                geometry: g,
                one_d,
            }
            | Op::AvgPool {
                name,
                geometry: g,
                one_d,
            } => register(
                f,
                name,
                format_args!(
                    "nn.{}Pool{}d({}, stride={}, padding={})",
                    if matches!(op, Op::MaxPool { .. }) {
                        "Max"
                    } else {
                        "Avg"
                    },
                    if one_d { 1 } else { 2 },
                    Pair(g.kernel, one_d),
                    Pair(g.stride, one_d),
                    Pair(g.padding, one_d),
                ),
            ),
            Op::BatchNorm {
                name,
                channels,
                spatial,
            } => register(
                f,
                name,
                format_args!(
                    "nn.BatchNorm{}d({channels})",
                    if spatial == 2 { 2 } else { 1 }
                ),
            ),
            Op::LayerNorm { name, features } => {
                register(f, name, format_args!("nn.LayerNorm({features})"))
            }
            Op::Dropout { name, p } => register(f, name, format_args!("nn.Dropout({})", Float(p))),
            Op::Recurrent {
                name,
                lstm,
                features,
                hidden,
                ..
            } => register(
                f,
                name,
                format_args!(
                    "nn.{}({features}, {hidden}, batch_first=True)",
                    if lstm { "LSTM" } else { "GRU" }
                ),
            ),
            _ => Ok(()),
        }
    }

    /// The lines of `forward` for `op` on a value of `shape`.
    fn step(&self, f: &mut Formatter<'_>, op: &Op, shape: Shape) -> fmt::Result {
        match *op {
            Op::Dense { name, per_step, .. } => {
                if shape.len > 1 && !per_step {
                    writeln!(f, "        h = h.flatten(1)")?;
                }
                writeln!(f, "        h = {}(h)", Get(name))
            }
            Op::Conv {
                name, geometry: g, ..
            } => {
                if !symmetric(g.pad_h, g.pad_w) {
                    if shape.len == 2 {
                        writeln!(f, "        h = F.pad(h, ({}, {}))", g.pad_w.0, g.pad_w.1)?;
                    } else {
                        writeln!(
                            f,
                            "        h = F.pad(h, ({}, {}, {}, {}))",
                            g.pad_w.0, g.pad_w.1, g.pad_h.0, g.pad_h.1
                        )?;
                    }
                }
                writeln!(f, "        h = {}(h)", Get(name))
            }
            Op::MaxPool { name, .. }
            | Op::AvgPool { name, .. }
            | Op::BatchNorm { name, .. }
            | Op::Dropout { name, .. } => writeln!(f, "        h = {}(h)", Get(name)),
            Op::LayerNorm { name, .. } => {
                if shape.len > 1 {
                    writeln!(
                        f,
                        "        h = {}(h.flatten(1)).reshape(h.shape)",
                        Get(name)
                    )
                } else {
                    writeln!(f, "        h = {}(h)", Get(name))
                }
            }
            Op::GlobalAvgPool { .. } => writeln!(f, "        h = h.flatten(2).mean(2)"),
            Op::Recurrent { name, last, .. } => {
                writeln!(f, "        h, _ = {}(h)", Get(name))?;
                if last {
                    writeln!(f, "        h = h[:, -1]")?;
                }
                Ok(())
            }
            Op::Flatten => writeln!(f, "        h = h.flatten(1)"),
            Op::Transpose => writeln!(f, "        h = h.transpose(1, 2)"),
            Op::ResidualBegin { name } => writeln!(f, "        skip_{name} = h"),
            Op::ResidualEnd { name } => writeln!(f, "        h = h + skip_{name}"),
            Op::Activation(a) => match a {
                ActivationOp::Relu => writeln!(f, "        h = F.relu(h)"),
                ActivationOp::LeakyRelu(slope) => {
                    writeln!(f, "        h = F.leaky_relu(h, {})", Float(slope))
                }
                ActivationOp::Elu(alpha) => writeln!(f, "        h = F.elu(h, {})", Float(alpha)),
                ActivationOp::Gelu => writeln!(f, "        h = F.gelu(h)"),
                ActivationOp::Softplus => writeln!(f, "        h = F.softplus(h)"),
                ActivationOp::Sigmoid => writeln!(f, "        h = torch.sigmoid(h)"),
                ActivationOp::Tanh => writeln!(f, "        h = torch.tanh(h)"),
                ActivationOp::Softmax => {
                    if shape.len > 1 {
                        writeln!(
                            f,
                            "        h = torch.softmax(h.flatten(1), dim=1).reshape(h.shape)"
                        )
                    } else {
                        writeln!(f, "        h = torch.softmax(h, dim=1)")
                    }
                }
            },
        }
    }
}

fn symmetric(h: (usize, usize), w: (usize, usize)) -> bool {
    h.0 == h.1 && w.0 == w.1
}

/// A PyTorch training script for a generated module (print it with `{}`): CSV data,
/// any device, one process or many under `torchrun`, and a safetensors file the Rust
/// network loads. See [`Module::training_script`].
#[derive(Clone, Copy, Debug)]
pub struct TrainingScript {
    /// The module class.
    pub class: &'static str,
    /// The Python module it is imported from.
    pub module: &'static str,
}

impl Display for TrainingScript {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (class, module) = (Class(self.class), self.module);
        write!(
            f,
            r#""""Trains `{class}` (from {module}.py) on a CSV file, on any device PyTorch offers, in one
process or in several under torchrun, and writes a safetensors state dict that the Rust
network loads with `load_safetensors` (generated by the `network` crate).

    python train.py data.csv --epochs 100 --out model.safetensors
    torchrun --nproc-per-node 4 train.py data.csv --out model.safetensors

CSV: a header, then one sample per row, the features followed by the integer class
(classification with cross-entropy on the logits), or by `--targets K` target values
(regression, mean squared error). `--standardize` scales every feature to zero mean and
unit variance, as `Dataset::standardize` does, and stores the scaling in the file's
metadata, where `load_safetensors_with` finds it. Under torchrun every process trains on its share of
each batch (DistributedDataParallel, backend gloo on CPUs, nccl on GPUs); rank 0 writes
the file.

Needs: pip install torch safetensors numpy
"""
import argparse
import os

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import save_file

from {module} import {class}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv")
    parser.add_argument("--targets", type=int, default=0, help="regression targets per row (0: a class label)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--standardize", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="model.safetensors")
    args = parser.parse_args()

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    device = torch.device(args.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank = dist.get_rank()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    torch.manual_seed(args.seed)

    data = np.loadtxt(args.csv, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    split = data.shape[1] - max(args.targets, 1)
    x = data[:, :split]
    metadata = {{"format": "pt"}}
    if args.standardize:
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x = (x - mean) / std
        # Travels with the weights: `load_safetensors_with` returns it in Rust.
        metadata["network.standardizer"] = "mean={{}};std={{}}".format(
            ",".join(repr(float(v)) for v in mean), ",".join(repr(float(v)) for v in std)
        )
    x = torch.tensor(x, dtype=torch.float32)
    if args.targets:
        y = torch.tensor(data[:, split:], dtype=torch.float32)
        loss_fn = torch.nn.functional.mse_loss
    else:
        y = torch.tensor(data[:, split], dtype=torch.long)
        loss_fn = torch.nn.functional.cross_entropy

    model = {class}().to(device)
    if x.shape[1] != int(np.prod(model.input_shape)):
        raise SystemExit(f"{{args.csv}}: {{x.shape[1]}} features, the model takes {{model.input_shape}}")
    trained = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    dataset = torch.utils.data.TensorDataset(x, y)
    sampler = torch.utils.data.distributed.DistributedSampler(dataset, seed=args.seed) if distributed else None
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True
    )
    optimizer = torch.optim.Adam(trained.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        trained.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = loss_fn(trained(xb), yb)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(xb), count + len(xb)
        if rank == 0 and (epoch + 1) % max(args.epochs // 10, 1) == 0:
            print(f"epoch {{epoch + 1}}: training loss {{total / max(count, 1):.4f}} (rank 0's share)")

    if rank == 0:
        model.eval()
        with torch.no_grad():
            outputs = model(x.to(device)).cpu()
        if not args.targets:
            accuracy = (outputs.argmax(1) == y).float().mean().item()
            print(f"accuracy on the whole file: {{accuracy:.4f}}")
        state = {{k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}}
        save_file(state, args.out, metadata=metadata)
        print(f"wrote {{args.out}}: load it in Rust with network::weights::load_safetensors_with")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
"#
        )
    }
}
