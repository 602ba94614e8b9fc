"""`zoo predict MODEL` on trained weights (first call and later calls), and the download path.

    .venv/bin/python benchmarks/weights_speed.py --image /tmp/cifar10/test/cat/0001.jpg

1. `zoo predict cifar10-cnn IMAGE` (or --model) with an empty $ZOO_HOME: the first call exports
   the default weights to ONNX (verified) and caches them; then --calls more calls, each a fresh
   `zoo` process, wall and CPU time from start to exit (median, min, max), interleaved with
   `zoo --help` as the reference for start-up on a shared machine. One more call through
   `python -c` checks that torch is not imported on the cached path.
2. Downloads from a local http.server on 127.0.0.1 (torch.hub's download_url_to_file, sha256,
   the card read and checked): `zoo.weights.declared.weights_for` cold (empty cache) and cached, --calls times
   each, for a cifar10-cnn-sized file (0.4 MB) and a cifar10-vgg-sized one (23 MB).
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHECK_TORCH = (
    "import sys; from zoo.cli.app import app\n"
    "try: app(sys.argv[1:], standalone_mode=False)\n"
    "finally: print('torch imported:', 'torch' in sys.modules, file=sys.stderr)"
)


def wall(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of a command in a fresh process (its CPU seconds go to ``CPU``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed: {result.stderr}")
    return seconds, result


CPU: list[float] = []  # user + system seconds of each command run by wall()


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


def predict_timings(model: str, image: str, calls: int) -> dict[str, object]:
    zoo = str(Path(sys.executable).with_name("zoo"))
    with tempfile.TemporaryDirectory(prefix="zoo-home-") as home:
        env = {**os.environ, "ZOO_HOME": home}
        command = [zoo, "predict", model, image, "--top-k", "3"]
        first, result = wall(command, env)
        later, later_cpu, help_wall, help_cpu = [], [], [], []
        for _ in range(calls):  # interleaved with `zoo --help`, the reference for start-up
            later.append(wall(command, env)[0])
            later_cpu.append(CPU[-1])
            help_wall.append(wall([zoo, "--help"], env)[0])
            help_cpu.append(CPU[-1])
        _, checked = wall([sys.executable, "-c", CHECK_TORCH, *command[1:]], env)
    return {
        "command": f"zoo predict {model} IMAGE --top-k 3",
        "first_call_seconds": round(first, 2),
        "first_call_said": result.stderr.strip().splitlines(),
        "later_calls_seconds": stats(later),
        "later_calls_cpu_seconds": stats(later_cpu),
        "zoo_help_seconds": stats(help_wall),
        "zoo_help_cpu_seconds": stats(help_cpu),
        "later_over_help_cpu": round(statistics.median(later_cpu) / statistics.median(help_cpu), 2),
        "later_calls_all": [round(v, 3) for v in later],
        "torch_imported_on_cached_call": "torch imported: True" in checked.stderr,
        "prediction": result.stdout.strip().splitlines(),
    }


def download_timings(model: str, calls: int) -> list[dict[str, object]]:
    import torch

    import zoo
    from zoo.artifacts.checkpoint import save_weights
    from zoo.files import sha256_file
    from zoo.models.cifar import cifar10_cnn, cifar10_vgg
    from zoo.weights import declared as weights

    results = []
    with tempfile.TemporaryDirectory(prefix="zoo-served-") as served:
        folder = Path(served)
        handler = functools.partial(Quiet, directory=served)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        shipped = weights.weights_for(model, "default")  # its card: CIFAR-10's classes and inputs
        for name, builder in (("web-cifar10-cnn", cifar10_cnn), ("web-cifar10-vgg", cifar10_vgg)):
            torch.manual_seed(0)
            file = folder / f"{name}.safetensors"
            save_weights(file, builder().state_dict(), shipped.card.with_(model=name))
            declaration = {
                "name": "v1",
                "url": f"http://127.0.0.1:{server.server_port}/{file.name}",
            }
            declaration["sha256"] = sha256_file(file)
            zoo.register_model(name, weights=[declaration])(builder)
            cold, cached = [], []
            for _ in range(calls):
                with tempfile.TemporaryDirectory(prefix="zoo-home-") as home:
                    os.environ["ZOO_HOME"] = home
                    started = time.perf_counter()
                    weights.weights_for(name, "default")
                    cold.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    weights.weights_for(name, "default")
                    cached.append(time.perf_counter() - started)
            results.append(
                {
                    "file": f"{name}.safetensors",
                    "megabytes": round(file.stat().st_size / 1e6, 2),
                    "cold_seconds": stats(cold),
                    "cached_seconds": stats(cached),
                }
            )
        server.shutdown()
    return results


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True, help="A CIFAR-10 test JPEG.")
    parser.add_argument("--model", default="cifar10-cnn")
    parser.add_argument("--calls", type=int, default=7)
    parser.add_argument("--json", type=Path, default=Path("/tmp/zoo-weights-speed.json"))
    args = parser.parse_args()
    # zoo's bytecode, as `pip install` compiles it: an editable checkout under
    # PYTHONDONTWRITEBYTECODE (this machine's default) would otherwise recompile zoo every call
    import zoo

    compileall.compile_dir(str(Path(zoo.__file__).parent), quiet=1)
    result = {
        "predict": predict_timings(args.model, args.image, args.calls),
        "download": download_timings(args.model, args.calls),
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
