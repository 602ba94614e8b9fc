"""How long `zoo list` takes, side by side with `import torch` and timm's `list_models()`.

Each command runs in a fresh process, interleaved round by round so that machine noise hits all of
them alike; the median of the rounds is reported, and `zoo list` as a fraction of `import torch`.

    .venv/bin/python benchmarks/list_speed.py --rounds 15
"""

from __future__ import annotations

import argparse
import compileall
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from zoo.machine import this_machine

ZOO = str(Path(sys.executable).with_name("zoo"))
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "zoo list": [ZOO, "list"],
    "zoo --help": [ZOO, "--help"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "timm.list_models()": [sys.executable, "-c", "import timm; timm.list_models()"],
}


def wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    # zoo's bytecode, as `pip install` compiles it: an editable checkout under
    # PYTHONDONTWRITEBYTECODE (this machine's default) would otherwise recompile zoo every call
    import zoo

    compileall.compile_dir(str(Path(zoo.__file__).parent), quiet=1)
    available = dict(COMMANDS)
    try:
        wall_time(COMMANDS["timm.list_models()"])
    except subprocess.CalledProcessError:
        del available["timm.list_models()"]  # timm not installed
    for command in available.values():  # warm the file cache
        wall_time(command)
    times: dict[str, list[float]] = {name: [] for name in available}
    for _ in range(args.rounds):
        for name, command in available.items():
            times[name].append(wall_time(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    torch_import = medians['python -c "import torch"']
    print(
        f"machine: {this_machine().text()}; Python {platform.python_version()}, {args.rounds} rounds"
    )
    print("| command | median wall time (s) | ratio to `import torch` |")
    print("|---|---|---|")
    for name, median in medians.items():
        print(f"| `{name}` | {median:.3f} | {median / torch_import:.2f}× |")


if __name__ == "__main__":
    main()
