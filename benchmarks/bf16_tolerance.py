"""How far bfloat16 strays from float32 on every built-in model: the measurement behind the bf16
tolerance (zoo/export/precisions.py, ``BF16``).

    .venv/bin/python benchmarks/bf16_tolerance.py --data-dir /tmp/cifar10 --write

For each built-in, `zoo bench MODEL [--weights default] --backends eager,eager-bf16,openvino-bf16`
in a fresh process (trained weights where zoo ships them, on their own test data; fresh weights
on random inputs otherwise), and from its JSON report each bf16 row's worst element measured
against the rule's own scale: |a − b| / (max|b| of its row + |b|), the fraction the tolerance
must allow, and its top-1 agreement with float32. Needs a CPU with native bf16 (AVX512_BF16 or
AMX); elsewhere the rows are skipped and the script says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_section

import zoo
from zoo.export.precisions import BF16
from zoo.machine import this_machine

ZOO = str(Path(sys.executable).with_name("zoo"))
BACKENDS = "eager,eager-bf16,openvino-bf16"
MODEL_ARGS = {"flowers-transfer": ["--model-arg", "pretrained=false"]}  # no download here
MOST_SAMPLES = {"flowers-transfer": 500}  # a resnet18 at 224×224 on random inputs


def bench(name: str, data_dir: str, report: Path, samples: int) -> dict:
    """One model's bench JSON (trained weights where it has them)."""
    info = zoo.get_model_info(name)
    weights = ["--weights", "default", "--data-dir", data_dir] if info.weights else []
    command = [ZOO, "bench", name, *weights, *MODEL_ARGS.get(name, [])]
    command += ["--backends", BACKENDS, "--max-time", "1"]
    count = min(samples, MOST_SAMPLES.get(name, samples))
    command += ["--batch-sizes", "1", "--test-samples", str(count), "--report", str(report)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if not report.is_file():
        raise SystemExit(f"{name}: {done.stderr.strip() or done.stdout.strip()}")
    return json.loads(report.read_text()) | {"weights": "default" if info.weights else "fresh"}


def rows(data_dir: str, samples: int) -> list[dict]:
    """Every built-in's bf16 rows."""
    found = []
    builtins = sorted(e.name for e in zoo.get_registry().entries("model") if e.builtin)
    with tempfile.TemporaryDirectory() as scratch:
        for name in builtins:
            result = bench(name, data_dir, Path(scratch) / f"{name}.json", samples)
            for parity in result["parity"]:
                if parity["precision"] != "bf16":
                    continue
                # with atol = rtol the bound is atol·(scale + |b|): the worst share of it
                share = parity["tolerance_used"] * BF16.atol
                found.append(
                    {
                        "model": name,
                        "weights": result["weights"],
                        "backend": parity["backend"],
                        "inputs": parity["count"],
                        "share": share,
                        "top1": parity["top1_agreement"],
                        "passed": parity["passed"],
                    }
                )
            for skipped in result["skipped"]:
                if "bf16" in skipped["backend"]:
                    print(f"{name}: {skipped['backend']} skipped: {skipped['reason']}")
            print(f"{name}: done", flush=True)
    return found


def report(found: list[dict], seconds: float) -> str:
    lines = [
        "## bfloat16 against float32 on the built-in models (the `BF16` tolerance)",
        "",
        f"`.venv/bin/python benchmarks/bf16_tolerance.py --data-dir /tmp/cifar10 --write` on "
        f"{time.strftime('%Y-%m-%d')}: {this_machine().text()}; {seconds:.0f} s in all. Each row:"
        f" `zoo bench MODEL --backends {BACKENDS}`; the worst element's |a − b| / (max|b| of its "
        "row + |b|), which the rule `" + BF16.rule + "` allows up to "
        f"{BF16.atol:g}; top-1 agreement with eager float32 on the same inputs.",
        "",
        "| model | weights | backend | inputs | worst share | top-1 agreement | passed |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in found:
        top1 = "n/a" if row["top1"] is None else f"{row['top1']:.1%}"
        lines.append(
            f"| {row['model']} | {row['weights']} | {row['backend']} | {row['inputs']} | "
            f"{row['share']:.4f} | {top1} | {'yes' if row['passed'] else 'no'} |"
        )
    if found:
        worst = max(found, key=lambda row: row["share"])
        lines += [
            "",
            f"Worst: {worst['model']} on {worst['backend']}, {worst['share']:.4f} of the scale, "
            f"{worst['share'] / BF16.atol:.0%} of what the tolerance allows.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/tmp/cifar10")
    parser.add_argument(
        "--samples",
        type=int,
        default=10_000,
        help="inputs per model (its test split's size at most)",
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not this_machine().native_bf16:
        raise SystemExit(f"{this_machine().text()}: no native bf16, the bf16 rows are skipped")
    started = time.perf_counter()
    text = report(rows(args.data_dir, args.samples), time.perf_counter() - started)
    print(text)
    if args.write:
        write_section("bf16-tolerance", text)


if __name__ == "__main__":
    main()
