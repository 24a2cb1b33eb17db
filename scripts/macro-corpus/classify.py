#!/usr/bin/env python3
"""Compiles every program of tests/macro-corpus/ and classifies what `network!` did with
its declaration:

- accepted: a valid declaration compiled (what must happen);
- one clear spanned error: an invalid one gave exactly one error, inside the macro call;
- several relevant errors: two or three errors, all inside the macro call (a case
  makes at most two mistakes);
- noise: more errors than that, all inside the macro call;
- cascade: an error in the user's code after the declaration (a follow-up error);
- wall of trait errors: an E0277 trait-bound error;
- accepted but wrong: an invalid declaration compiled;
- rejected but valid: a valid declaration did not compile;
- panic: the macro panicked.

Goal: no cascades, no walls, nothing accepted-but-wrong or rejected-but-valid, no panics.

    python3 scripts/macro-corpus/classify.py [--jobs 2] [--verbose]

Builds in target/macro-corpus/ (two throwaway crates, debug); about 5 minutes on two
cores. Prints a table of counts and lists every case that is not in a good class.
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "macro-corpus")
WORK = os.path.join(ROOT, "target", "macro-corpus")


def crate(slot):
    path = os.path.join(WORK, f"crate{slot}")
    os.makedirs(os.path.join(path, "src"), exist_ok=True)
    with open(os.path.join(path, "Cargo.toml"), "w") as f:
        f.write(
            f'[package]\nname = "corpus{slot}"\nversion = "0.0.0"\nedition = "2021"\n'
            f'[dependencies]\nnetwork = {{ path = "{ROOT}" }}\n[workspace]\n'
        )
    shutil.copy(os.path.join(ROOT, "rust-toolchain.toml"), path)
    return path


def macro_lines(text):
    """The line ranges (1-based, inclusive) of the `network! { ... }` calls."""
    ranges = []
    lines = text.split("\n")
    k = 0
    while k < len(lines):
        if lines[k].startswith("network! {"):
            depth = 0
            for j in range(k, len(lines)):
                depth += lines[j].count("{") - lines[j].count("}")
                if depth == 0:
                    ranges.append((k + 1, j + 1))
                    k = j
                    break
        k += 1
    return ranges


def build(path, source):
    with open(os.path.join(path, "src", "main.rs"), "w") as f:
        f.write(source)
    result = subprocess.run(
        ["cargo", "build", "-q", "--message-format=json"],
        cwd=path,
        capture_output=True,
        text=True,
        env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(path, "target")),
    )
    errors = []
    for line in result.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-message":
            continue
        m = message["message"]
        if m["level"] != "error" or m["message"].startswith("aborting due to"):
            continue
        line_no = None
        for span in sorted(m["spans"], key=lambda s: not s["is_primary"]):
            # A span inside a macro (an `assert!` of a const assertion) leads back to the
            # user's file through its expansion.
            while span is not None and not span["file_name"].endswith("main.rs"):
                span = (span.get("expansion") or {}).get("span")
            if span is not None:
                line_no = span["line_start"]
                break
        code = (m.get("code") or {}).get("code")
        errors.append((m["message"], code, line_no))
    return errors


def classify(expect, source, errors):
    if any("proc macro panicked" in e[0] or "proc-macro derive panicked" in e[0] for e in errors):
        return "panic"
    if expect == "valid":
        return "accepted" if not errors else "rejected but valid"
    if not errors:
        return "accepted but wrong"
    if any(code == "E0277" for _, code, _ in errors):
        return "wall of trait errors"
    ranges = macro_lines(source)
    inside = lambda line: line is not None and any(a <= line <= b for a, b in ranges)
    if not all(inside(line) for _, _, line in errors):
        return "cascade"
    if len(errors) == 1:
        return "one clear spanned error"
    # More than one error per mistake the case makes (a corpus case makes one or two).
    return "several relevant errors" if len(errors) <= 3 else "noise"


GOOD = {"accepted", "one clear spanned error", "several relevant errors"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("cases", nargs="*")
    args = parser.parse_args()
    files = args.cases or sorted(f for f in os.listdir(CORPUS) if f.endswith(".rs"))
    crates = [crate(slot) for slot in range(args.jobs)]
    # Dependencies once per crate.
    for path in crates:
        build(path, "fn main() {}\n")

    def run(slot, names):
        out = []
        for name in names:
            source = open(os.path.join(CORPUS, name)).read()
            expect = re.search(r"^//! expect: (\w+)", source, re.M).group(1)
            what = source.split("\n")[1][4:]
            errors = build(crates[slot], source)
            out.append((name, expect, what, classify(expect, source, errors), errors))
        return out

    chunks = [files[k :: args.jobs] for k in range(args.jobs)]
    results = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for part in pool.map(run, range(args.jobs), chunks):
            results.extend(part)
    results.sort()
    counts = collections.Counter((r[1], r[3]) for r in results)
    print(f"{len(results)} declarations ({sum(1 for r in results if r[1] == 'valid')} valid, "
          f"{sum(1 for r in results if r[1] == 'invalid')} invalid)\n")
    print("| expected | outcome | count |\n|---|---|---|")
    for (expect, outcome), n in sorted(counts.items()):
        print(f"| {expect} | {outcome} | {n} |")
    bad = [r for r in results if r[3] not in GOOD or args.verbose]
    if bad:
        print()
    for name, expect, what, outcome, errors in bad:
        print(f"{name} [{outcome}] {what}")
        for message, code, line in errors[:6]:
            print(f"    line {line} {code or ''}: {message.splitlines()[0][:150]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
