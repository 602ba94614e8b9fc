"""`zoo publish` of cifar10-cnn, and a cached `zoo predict hf://OWNER/REPO` against a cached
`zoo predict cifar10-cnn` (issue 20's two targets).

    python3 ../shared/data/cifar10/jpeg_pack.py unpack ../shared/data/cifar10/cifar10-jpg.pack /tmp/cifar10   # if not there yet
    .venv/bin/python benchmarks/publish_speed.py --data-dir /tmp/cifar10

1. `zoo publish` of cifar10-cnn's shipped weights (zoo/models/weights/, a checkpoint with its card)
   in a fresh process, --publishes times: the metrics measured again on the 10,000 test JPEGs of
   the imagefolder CIFAR-10 copy, the ONNX export and its verification, the card. Target: <= 60 s.
2. The release is put on tests/hub_standin.py (a stand-in for the Hugging Face Hub's HTTP API on
   127.0.0.1, serving files as the Hub does; zoo downloads through huggingface_hub, as from the
   Hub); both caches are warmed (one
   `zoo predict hf://OWNER/REPO IMAGE`, which downloads the release's ONNX file, and one
   `zoo predict cifar10-cnn IMAGE`, which exports the weights once); then --calls cached calls of
   each, interleaved, each a fresh `zoo` process, wall time from start to exit. Target: the
   median of hf:// within 1.2x the median of the model name.

Writes the "publish-speed" section of benchmarks/RESULTS.md (with --write) and prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo.machine import this_machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the Hub stand-in
sys.path.insert(0, str(ROOT / "benchmarks"))
ZOO = str(Path(sys.executable).with_name("zoo"))
WEIGHTS = ROOT / "zoo" / "models" / "weights" / "cifar10-cnn-cifar10.safetensors"
REPO = "zoo-bench/cifar10-cnn"
UNPACK = "python3 ../shared/data/cifar10/jpeg_pack.py unpack ../shared/data/cifar10/cifar10-jpg.pack /tmp/cifar10"


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``command`` in a fresh process; a failure ends the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return seconds


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


def publish_timings(data_dir: str, count: int, scratch: Path, env: dict[str, str]) -> dict:
    """`zoo publish` of the shipped cifar10-cnn weights, re-measured on the test JPEGs."""
    seconds = []
    for index in range(count):
        out = scratch / f"release-{index}"
        command = [ZOO, "publish", str(WEIGHTS), "--name", "cifar10", "--out", str(out)]
        seconds.append(timed([*command, "--data-dir", data_dir, "--license", "mit"], env))
    (entry,) = json.loads((scratch / "release-0" / "weights.json").read_text())["cifar10-cnn"]
    return {
        "command": "zoo publish zoo/models/weights/cifar10-cnn-cifar10.safetensors --name "
        "cifar10 --data-dir /tmp/cifar10 --out DIR --license mit",
        "seconds": stats(seconds),
        "measured": entry["metrics"],
        "target_seconds": 60,
        "met": max(seconds) <= 60,
    }


def predict_timings(release: Path, image: str, calls: int, scratch: Path) -> dict:
    """Cached `zoo predict hf://REPO IMAGE` and `zoo predict cifar10-cnn IMAGE`, interleaved;
    the Hub repository holds the release `zoo publish` wrote."""
    from hub_standin import HubStandin

    files = {
        path.relative_to(release).as_posix(): path.read_bytes()
        for path in release.rglob("*")
        if path.is_file()
    }
    with HubStandin(token="hf_bench") as hub:
        hub.add_files(REPO, files)
        env = hub.client_env(scratch / "hf-home") | {"ZOO_HOME": str(scratch / "zoo-home")}
        commands = {
            "hf": [ZOO, "predict", f"hf://{REPO}", image, "--top-k", "3"],
            "model": [ZOO, "predict", "cifar10-cnn", image, "--top-k", "3"],
        }
        first = {name: timed(command, env) for name, command in commands.items()}  # warm
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(calls):
            for name, command in commands.items():
                seconds[name].append(timed(command, env))
        unserved = len(hub.unserved)
    ratio = statistics.median(seconds["hf"]) / statistics.median(seconds["model"])
    return {
        "commands": {
            name: " ".join(["zoo", *c[1:3], "IMAGE", *c[4:]]) for name, c in commands.items()
        },
        "first_call_seconds": {name: round(value, 2) for name, value in first.items()},
        "cached_seconds": {name: stats(values) for name, values in seconds.items()},
        "ratio_of_medians": round(ratio, 3),
        "target_ratio": 1.2,
        "met": ratio <= 1.2,
        "unserved_requests": unserved,
    }


def section(results: dict) -> str:
    publish, predict = results["publish"], results["predict"]
    load = results["load_before"]
    cached = predict["cached_seconds"]
    return "\n".join(
        [
            "## Publishing (issue 20): `zoo publish`, and cached `zoo predict hf://`",
            "",
            f"Measured by `.venv/bin/python benchmarks/publish_speed.py --data-dir /tmp/cifar10 "
            f"--write` on {results['machine']} (load average {load} before it started).",
            "",
            f"- `{publish['command']}`: {publish['seconds']['median']} s median (min "
            f"{publish['seconds']['min']}, max {publish['seconds']['max']}, n="
            f"{publish['seconds']['n']}), fresh processes, with the metrics measured again on "
            f"the 10,000 test JPEGs ({publish['measured']}), the ONNX export and its "
            f"verification. Target <= 60 s: {'met' if publish['met'] else 'NOT met'}.",
            f"- Cached `{predict['commands']['hf']}`: {cached['hf']['median']} s median against "
            f"{cached['model']['median']} s for `{predict['commands']['model']}`, interleaved, "
            f"n={cached['hf']['n']} each: ratio {predict['ratio_of_medians']}. Target <= 1.2x: "
            f"{'met' if predict['met'] else 'NOT met'}. The Hub was tests/hub_standin.py on "
            "127.0.0.1 (a stand-in for the Hugging Face Hub's HTTP API; the cached calls make "
            "no request at all).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="/tmp/cifar10", help="The CIFAR-10 JPEG copy.")
    parser.add_argument("--publishes", type=int, default=2, help="Timed `zoo publish` runs.")
    parser.add_argument("--calls", type=int, default=15, help="Cached predictions of each kind.")
    parser.add_argument("--image", help="An image to predict (default: a test JPEG).")
    parser.add_argument("--write", action="store_true", help="Update benchmarks/RESULTS.md.")
    args = parser.parse_args()
    test = Path(args.data_dir) / "test"
    if not test.is_dir():
        sys.exit(f"no {test}: {UNPACK}")
    image = args.image or str(min(next(p for p in sorted(test.iterdir()) if p.is_dir()).iterdir()))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="zoo-publish-bench-") as folder:
        scratch = Path(folder)
        env = {**os.environ, "ZOO_HOME": str(scratch / "home")}
        results = {
            "machine": this_machine().text(),
            "load_before": round(load, 2),
            "publish": publish_timings(args.data_dir, args.publishes, scratch, env),
            "predict": predict_timings(scratch / "release-0", image, args.calls, scratch),
        }
    print(json.dumps(results, indent=2))
    if args.write:
        from results_file import write_section

        write_section("publish-speed", section(results))


if __name__ == "__main__":
    main()
