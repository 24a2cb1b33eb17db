#!/usr/bin/env python3
"""Generates the numbers the README quotes from the examples that produce them.

Every quoted output lives in the README between `<!-- numbers: NAME -->` and
`<!-- /numbers -->` (a block or a few words inline). This script runs the examples with
the portable kernels (`--no-default-features --features std,plots`: no SIMD, so the
losses and accuracies are the same bits on every machine), builds each block's text
from what they printed, and either rewrites the README or, with `--check`, fails when a
block differs from what the code computes now. Timings are never part of a block: they
depend on the machine.

    python3 scripts/readme-numbers.py           # rewrite README.md
    python3 scripts/readme-numbers.py --check   # CI: fail on any difference

About a minute of build and a minute of runs on a 2-core machine.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
FEATURES = ["--no-default-features", "--features", "std,plots"]
TARGET = os.path.join(ROOT, "target", "readme-numbers")


def run(example):
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    out = subprocess.run(
        ["cargo", "run", "-q", "--release", *FEATURES, "--example", example],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    return out.stdout.splitlines()


def fenced(lines):
    return "\n```text\n" + "\n".join(lines) + "\n```\n"


def table(lines, drop_last_column=False):
    rows = [l for l in lines if l.startswith("|")]
    if drop_last_column:
        rows = ["|".join(r.split("|")[:-2]) + "|" for r in rows]
    return "\n" + "\n".join(rows) + "\n"


def section(lines, title):
    """The lines after `== title` up to the next blank line."""
    start = lines.index("== " + title) + 1
    end = next((k for k in range(start, len(lines)) if not lines[k]), len(lines))
    return lines[start:end]


def blocks():
    iris = run("iris")
    epochs = [l for l in iris if l.startswith("epoch")]
    accuracy = next(l for l in iris if l.startswith("test accuracy"))
    accuracy = re.sub(r", trained in \S+$", "", accuracy)

    digits = run("digits")
    test = next(l for l in digits if l.startswith("test accuracy"))
    digits_accuracy = re.match(r"test accuracy (\S+%)", test).group(1)

    cnn = run("cnn")
    cnn_line = re.sub(r"; [^;]+$", "", next(l for l in cnn if l.startswith("test accuracy")))
    cnn_int8 = next(l for l in cnn if l.startswith("int8 "))
    effect = run("effect_model")
    effect_line = re.sub(r"; trained in \S+$", "", next(l for l in effect if l.startswith("held-out ESR")))
    quantized = next(l for l in run("quantize_digits") if l.startswith("digits MLP on"))
    gru = run("sequence_digits")
    gru_line = re.sub(r"; [^;]+$", "", next(l for l in gru if l.startswith("test accuracy")))

    diagnostics = run("diagnostics")
    sigmoid = "deep sigmoid, naive init, SGD 0.1"
    reckless = "deep ReLU, SGD 2.0"
    quoted = (
        ["== " + sigmoid]
        + [l for l in section(diagnostics, sigmoid) if l.startswith("diagnosis")]
        + ["", "== " + reckless]
        + [l for l in section(diagnostics, reckless) if l.startswith("diagnosis")]
    )
    start = next(k for k, l in enumerate(diagnostics) if l.startswith("layer "))
    end = next(k for k in range(start, len(diagnostics)) if diagnostics[k].startswith("training total"))

    return {
        "iris": fenced([epochs[-1], accuracy]),
        "digits": digits_accuracy,
        "cnn": fenced([cnn_line, cnn_int8]),
        "gru": fenced([gru_line]),
        "effect": fenced([effect_line]),
        "quantize": fenced([quantized]),
        "optimizers": table(run("optimizers")),
        "residual": table(run("residual"), drop_last_column=True),
        "diagnostics": fenced(quoted),
        "summary": fenced(diagnostics[start : end + 1]),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = open(README).read()
    pattern = re.compile(r"(<!-- numbers: (\w+) -->)(.*?)(<!-- /numbers -->)", re.S)
    found = {m.group(2) for m in pattern.finditer(text)}
    generated = blocks()
    missing = set(generated) - found
    if missing:
        sys.exit(f"README.md has no block for {sorted(missing)}")
    stale = []

    def replace(m):
        name = m.group(2)
        new = generated.get(name)
        if new is None:
            sys.exit(f"README.md has a block `{name}` that no example generates")
        if m.group(3) != new:
            stale.append(name)
        return m.group(1) + new + m.group(4)

    updated = pattern.sub(replace, text)
    if args.check:
        if stale:
            for name in stale:
                print(f"README.md block `{name}` differs from what the examples print now:")
                print(generated[name])
            sys.exit("run `python3 scripts/readme-numbers.py` and commit the README")
        print(f"README.md: {len(found)} blocks match what the examples print")
    else:
        open(README, "w").write(updated)
        print(f"README.md: {len(found)} blocks, {len(stale)} rewritten: {stale}")


if __name__ == "__main__":
    main()
