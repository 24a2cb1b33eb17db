#!/usr/bin/env python3
"""Writes the macro corpus: declarations a harsh new user would write, malformed and
valid-but-unusual, each in a program that goes on to use the network as if it were
valid (so that follow-up errors in the user's code, cascades, show).

    python3 scripts/macro-corpus/generate.py      # writes tests/macro-corpus/*.rs
    python3 scripts/macro-corpus/classify.py      # compiles and classifies each

Each file starts with `//! expect: valid` or `//! expect: invalid` and a one-line
description. The cases are built from base mistakes placed in several contexts (first,
middle or last layer, inside a residual block), so the corpus covers each mistake where
it can occur.
"""
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "macro-corpus")

CONSTS = """#[allow(dead_code)]
const HIDDEN: usize = 16;
#[allow(dead_code)]
const ZERO: usize = 0;
#[allow(dead_code)]
const SMALL: u32 = 16;
#[allow(dead_code)]
const B: usize = 8;
#[allow(dead_code)]
const T: usize = 8;
#[allow(dead_code)]
const BIG: bool = true;
#[allow(dead_code)]
const P: f64 = 0.25;
#[allow(dead_code)]
const BAD_P: f64 = 1.5;
#[allow(dead_code)]
const SLOPE: f32 = 0.2;
#[allow(dead_code)]
const NEG: f64 = -0.2;
#[allow(dead_code)]
const H: usize = 4;
"""

cases = []


def case(expect, what, body, inputs=4, outputs=3, name="Net", extra=""):
    cases.append((expect, what, body, inputs, outputs, name, extra))


def program(expect, what, body, inputs, outputs, name, extra):
    use = f"""
#[allow(deprecated)] // the `#[deprecated]` case: only the generated code must not warn
fn main() {{
    let net = {name}::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, {inputs}>::zeros();
    let y: SVector<f32, {outputs}> = net.forward(&x);
    let mut tape = {name}::<f32>::new_tape::<2>();
    let mut grads = {name}::<f32>::zeros();
    let xs = SMatrix::<f32, {inputs}, 2>::zeros();
    let ys = SMatrix::<f32, {outputs}, 2>::zeros();
    let mut net = net;
    let _ = compute_gradients(&mut net, &xs, &ys, &Mse, &mut tape, &mut grads, &mut Rng::seed_from_u64(2));
    let _ = y;
}}
"""
    return (
        f"//! expect: {expect}\n//! {' '.join(what.split())}\n{extra}#![allow(unused_imports)]\nuse network::prelude::*;\n\n"
        + CONSTS
        + "\nnetwork! {\n"
        + body
        + "\n}\n"
        + use
    )


def net(layers, name="Net", attrs=""):
    inner = "\n".join("        " + l for l in layers)
    return f"    {attrs}struct {name} {{\n{inner}\n    }}"


# Contexts: a layer (the one under test, `{X}`) placed first, in the middle, last, or
# inside a residual block. `{X}` takes 16 inputs except when first (4 inputs) and
# produces 16 except when last (3 outputs); the templates below write sizes for that.
def contexts(first, middle, last):
    out = []
    if first:
        out.append(("first", [first, "mid0: Dense<16, 16>, Relu,", "out0: Dense<16, 3>,"]))
    if middle:
        out.append(("middle", ["inp: Dense<4, 16>, Relu,", middle, "out0: Dense<16, 3>,"]))
        out.append(
            (
                "in a residual block",
                ["inp: Dense<4, 16>, Relu,", "block: Residual {\n            " + middle + "\n        },", "out0: Dense<16, 3>,"],
            )
        )
    if last:
        out.append(("last", ["inp: Dense<4, 16>, Relu,", "mid0: Dense<16, 16>, Relu,", last]))
    return out


def placed(expect, what, first=None, middle=None, last=None):
    for where, layers in contexts(first, middle, last):
        case(expect, f"{what} ({where})", net(layers))


# ---------------------------------------------------------------- valid but unusual
for n in ["x", "out", "input", "grads", "tape", "lr", "d_x", "self_", "dropout1", "T", "B", "Net", "mid2"]:
    placed("valid", f"a layer named `{n}`", middle=f"{n}: Dense<16, 16>, Relu,")
for n in ["r#type", "r#fn", "r#loop", "r#match"]:
    placed("valid", f"a raw identifier `{n}` as a layer name", middle=f"{n}: Dense<16, 16>, Tanh,")
for n in ["a__pre", "d__mask", "n__xhat", "n__inv_std", "b__rng", "x__", "_private"]:
    placed("valid", f"a layer named like a generated buffer `{n}`", middle=f"{n}: Dense<16, 16>, Gelu,")
for size in ["B", "T", "{ B * 2 }", "{ if BIG { 16 } else { 8 } }", "{ HIDDEN }", "HIDDEN", "{ 4 * 4 }", "{ 2usize.pow(4) }"]:
    case("valid", f"size `{size}`", net(["a: Dense<4, HIDDEN>, Relu,", f"b: Dense<HIDDEN, {size}>, Relu,", f"c: Dense<{size}, 3>,"]))
for p in ["0", "0.0", "0.5", "0.5f32", "0.25f64", "P", "{ P / 2.0 }", "0.999"]:
    placed("valid", f"`Dropout({p})`", middle=f"Dropout({p}),")
for a in ["-0.0", "0", "0.0", "0.3", "SLOPE", "1e-3", "2"]:
    placed("valid", f"`LeakyRelu({a})`", middle=f"a: Dense<16, 16>, LeakyRelu({a}),")
    placed("valid", f"`Elu({a})`", middle=f"a: Dense<16, 16>, Elu({a}),")
for act in ["Identity", "Relu", "LeakyRelu", "Elu", "Gelu", "Softplus", "Sigmoid", "Tanh", "Softmax"]:
    placed("valid", f"activation `{act}`", middle=f"a: Dense<16, 16>, {act},")
case("valid", "a network named `T`", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], name="T"), name="T")
case("valid", "a network named `B`", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], name="B"), name="B")
case("valid", "a network named `Tape`", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], name="Tape"), name="Tape")
case("valid", "docs, derives, visibility", net(["/// The input layer.", "a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], attrs="#[derive(Clone, Debug, PartialEq)] pub(crate) "))
case("valid", "`#[cfg(all())]` on the declaration", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], attrs="#[cfg(all())] "))
case("valid", "`#[deprecated]` on the declaration, no warning from generated code", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], attrs="#[deprecated = \"use Net2\"] "), extra="#![deny(warnings)]\n")
# A configured-out network leaves nothing behind: the program uses a second one.
case("valid", "`#[cfg(any())]` on the declaration removes everything", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], name="Gone", attrs="#[cfg(any())] ") + "\n}\nnetwork! {\n" + net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"]))
for depth in [2, 5, 16, 32]:
    inner = "c: Dense<16, 16>, Relu"
    for k in range(depth):
        inner = f"r{k}: Residual {{ {inner} }}"
    case("valid", f"residual blocks nested {depth} deep", net(["a: Dense<4, 16>, Relu,", inner + ",", "out: Dense<16, 3>,"]))
for depth in [64, 128]:
    layers = ["l0: Dense<4, 16>, Relu,"] + [f"l{k}: Dense<16>, Relu," for k in range(1, depth - 1)] + ["out: Dense<3>,"]
    case("valid", f"{depth} dense layers", net(layers))
for attr in ["#[checkpoint]", "#[init(he)]", "#[init(xavier)]", "/// docs\n       ", "#[checkpoint] #[init(he)]"]:
    placed("valid", f"attribute `{attr}` on a dense layer", middle=f"{attr} a: Dense<16, 16>, Relu,")
case("valid", "inferred sizes everywhere after the first", net(["a: Dense<4, 16>, Relu,", "n: BatchNorm, Dropout(0.1),", "m: LayerNorm,", "b: Dense<3>,"]))
case("valid", "norms and dropout with their sizes written", net(["a: Dense<4, 16>, Relu,", "n: BatchNorm<16>,", "Dropout<16>(0.1),", "m: LayerNorm<16>,", "b: Dense<16, 3>,"]))
case("valid", "a first layer that is a norm", net(["n: BatchNorm<4>,", "a: Dense<16>, Relu,", "b: Dense<3>,"]))
case("valid", "a trailing comma and none", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>"]))

# ---------------------------------------------------------------- invalid
placed("invalid", "input size differs from the previous layer's output", middle="a: Dense<8, 16>, Relu,", last="fin: Dense<8, 3>,")
placed("invalid", "a named input size differs", middle="a: Dense<B, 16>, Relu,", last="fin: Dense<B, 3>,")
placed("invalid", "a size of 0", first="a: Dense<4, 0>, Relu,", middle="a: Dense<16, 0>, Relu,", last="fin: Dense<16, 0>,")
placed("invalid", "a named size of 0", middle="a: Dense<16, ZERO>, Relu,")
placed("invalid", "a size of 1 << 40", middle="a: Dense<16, { 1 << 40 }>, Relu,")
placed("invalid", "a size of usize::MAX", middle="a: Dense<16, { usize::MAX }>, Relu,")
placed("invalid", "a literal size too large for usize", middle="a: Dense<16, 100000000000000000000000>, Relu,")
placed("invalid", "a literal size above the limit", middle="a: Dense<16, 1099511627776>, Relu,")
placed("invalid", "a non-usize const as a size", middle="a: Dense<16, SMALL>, Relu,")
placed("invalid", "a size expression that underflows", middle="a: Dense<16, { H - 9 }>, Relu,")
placed("invalid", "an unknown const as a size", middle="a: Dense<16, WIDTH>, Relu,")
placed("invalid", "a float as a size", middle="a: Dense<16, 16.0>, Relu,")
placed("invalid", "a suffixed size", middle="a: Dense<16, 16u32>, Relu,")
placed("invalid", "a type as a size", middle="a: Dense<16, usize>, Relu,")
placed("invalid", "an activation where a size goes", middle="a: Dense<16, Relu>,")
for typo, right in [("Desne", "Dense"), ("dense", "Dense"), ("Dens", "Dense"), ("BatchNrom", "BatchNorm"), ("Layernorm", "LayerNorm"), ("Dropuot", "Dropout"), ("Residul", "Residual")]:
    placed("invalid", f"misspelled layer `{typo}`", middle=f"a: {typo}<16, 16>,")
for typo in ["ReLU", "relu", "Relu6", "Sigmiod", "Tahn", "tanh", "GeLU", "Softpuls", "SoftMax", "LeakyReLU", "Leaky", "Swish"]:
    placed("invalid", f"unknown activation `{typo}`", middle=f"a: Dense<16, 16>, {typo},")
placed("invalid", "a duplicate layer name", middle="inp: Dense<16, 16>, Relu,")
placed("invalid", "`r#inp` duplicates `inp`", middle="r#inp: Dense<16, 16>, Relu,")
placed("invalid", "a layer name starting with `__`", middle="__a: Dense<16, 16>, Relu,")
placed("invalid", "two activations in a row", middle="a: Dense<16, 16>, Relu, Tanh,")
placed("invalid", "a named activation", middle="a: Dense<16, 16>, act: Relu,")
placed("invalid", "an activation with sizes", middle="a: Dense<16, 16>, Relu<16>,")
placed("invalid", "an activation with arguments", middle="a: Dense<16, 16>, Relu(0.1),")
placed("invalid", "an activation with a block", middle="a: Dense<16, 16>, Relu { },")
placed("invalid", "an unnamed dense layer", middle="Dense<16, 16>, Relu,")
placed("invalid", "sizes in parentheses", middle="a: Dense(16, 16), Relu,")
placed("invalid", "a dropout probability after dense sizes", middle="a: Dense<16, 16>(0.5), Relu,")
placed("invalid", "a probability in angle brackets", middle="Dropout<0.5>,")
placed("invalid", "a dropout size that differs", middle="Dropout<999>(0.5),")
for p in ["1", "1.0", "1.5", "-0.1", "BAD_P", "f64::NAN"]:
    placed("invalid", f"`Dropout({p})`", middle=f"Dropout({p}),")
placed("invalid", "`Dropout()`", middle="Dropout(),")
placed("invalid", "`Dropout` without a probability", middle="Dropout,")
placed("invalid", "`Dropout(0.1, 0.2)`", middle="Dropout(0.1, 0.2),")
for a in ["-0.1", "NEG", "f64::INFINITY", "f64::NAN", "-1"]:
    placed("invalid", f"`LeakyRelu({a})`", middle=f"a: Dense<16, 16>, LeakyRelu({a}),")
placed("invalid", "`LeakyRelu()`", middle="a: Dense<16, 16>, LeakyRelu(),")
placed("invalid", "`Elu(0.1, 0.2)`", middle="a: Dense<16, 16>, Elu(0.1, 0.2),")
placed("invalid", "`#[init]` twice", middle="#[init(he)] #[init(xavier)] a: Dense<16, 16>, Relu,")
placed("invalid", "`#[checkpoint]` twice", middle="#[checkpoint] #[checkpoint] a: Dense<16, 16>, Relu,")
placed("invalid", "`#[init]` on a norm", middle="#[init(he)] n: BatchNorm,")
placed("invalid", "an unknown initialization", middle="#[init(lecun)] a: Dense<16, 16>, Relu,")
placed("invalid", "an unknown attribute", middle="#[inline] a: Dense<16, 16>, Relu,")
placed("invalid", "`#[checkpoint]` on dropout", middle="#[checkpoint] Dropout(0.1),")
placed("invalid", "empty angle brackets on a norm", middle="n: LayerNorm<>,")
placed("invalid", "empty angle brackets on dense", middle="a: Dense<>, Relu,")
placed("invalid", "three sizes on dense", middle="a: Dense<16, 16, 16>, Relu,")
placed("invalid", "two sizes on a norm", middle="n: BatchNorm<16, 16>,")
placed("invalid", "a norm size that differs", middle="n: BatchNorm<8>,")
placed("invalid", "a residual block that changes the size", middle="block2: Residual { c: Dense<16, 8> },")
placed("invalid", "an empty residual block", middle="block2: Residual { },")
placed("invalid", "a residual block without braces", middle="block2: Residual,")
placed("invalid", "a residual block with sizes", middle="block2: Residual<16> { c: Dense<16, 16> },")
placed("invalid", "a block on a dense layer", middle="a: Dense<16, 16> { c: Dense<16, 16> },")
placed("invalid", "a missing comma", middle="a: Dense<16, 16> Relu,")
case("invalid", "the first layer without its input size", net(["a: Dense<16>, Relu,", "b: Dense<16, 3>,"]))
case("invalid", "the first layer without its input size, and a later norm mismatch", net(["a: Dense<16>, Relu,", "n: BatchNorm<8>,", "b: Dense<16, 3>,"]))
case("invalid", "an activation first", net(["Relu,", "a: Dense<4, 16>,", "b: Dense<16, 3>,"]))
case("invalid", "generics on the struct", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"], name="Net<T>"), name="Net")
case("invalid", "an empty network", net([]))
case("invalid", "residual blocks nested 40 deep", net(["a: Dense<4, 16>, Relu,", "".join(f"r{k}: Residual {{ " for k in range(40)) + "c: Dense<16, 16>" + " }" * 40 + ",", "out: Dense<16, 3>,"]))
case("invalid", "every mistake at once", net(["a: Dense<4, 16>, ReLU,", "b: Dense<8, 16>, Relu,", "a: Dense<16, 16>,", "Dropout(1.5),", "out: Dense<16, 3>,"]))
case("invalid", "two networks with the same name", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"]) + "\n}\nnetwork! {\n" + net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 3>,"]))
case("invalid", "the first layer is dropped: its neighbour's input is not the network's", net(["a: Desne<4, 16>,", "b: Dense<8, 16>, Relu,", "out: Dense<16, 3>,"]))
case("invalid", "the last layer is dropped: its neighbour's output is not the network's", net(["a: Dense<4, 16>, Relu,", "b: Dense<16, 8>, Relu,", "out: Desne<8, 3>,"]))

if __name__ == "__main__":
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for k, (expect, what, body, inputs, outputs, name, extra) in enumerate(cases):
        with open(os.path.join(OUT, f"c{k:03}.rs"), "w") as f:
            f.write(program(expect, what, body, inputs, outputs, name, extra))
    valid = sum(1 for c in cases if c[0] == "valid")
    print(f"{len(cases)} cases ({valid} valid, {len(cases) - valid} invalid) in {OUT}")
