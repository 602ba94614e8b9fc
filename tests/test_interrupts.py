"""Ctrl-C during export, bench, eval and a model's first predict: exit status 130 and one line
saying what was stopped and what was kept, with nothing half-written left behind. A real SIGINT
to a real process, sent while it is inside its work (held there by the ZOO_TEST_FAULT pause in a
write, or by a dataset that waits for a gate)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from train_support import TINY_DATA, hear_ctrl_c, ok, run_dir, start

from zoo.files import FAULT_ENV

ZOO = Path(sys.executable).with_name("zoo")
PAUSED = {FAULT_ENV: "pause=60:manifest.json:1"}  # the export's manifest takes a minute to write
WEIGHTS = ["mnist-mlp3", "--weights", "default"]


def launch(args: list[str], **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **PAUSED, **env}
    return subprocess.Popen(
        [str(ZOO), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        preexec_fn=hear_ctrl_c,
    )


def wait_for(root: Path, pattern: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not list(root.rglob(pattern)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {pattern} in {root} within 120 s"
        time.sleep(0.05)


def interrupted(process: subprocess.Popen[str], *said: str) -> str:
    """Ctrl-C: exit 130 and one line on stderr that says ``said``."""
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert process.returncode == 130, (out, err)
    assert lines and lines[-1].startswith("interrupted: "), err
    assert "Traceback" not in err
    for part in said:
        assert part in lines[-1], lines[-1]
    return out


def test_ctrl_c_during_an_export_keeps_the_directory_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "export"
    process = launch(["export", *WEIGHTS, "--onnx", "--out", str(out)])
    wait_for(tmp_path, ".manifest.json.*.tmp", process)
    interrupted(process, "the export of mnist-mlp3 stopped", f"nothing was written to {out}")
    assert list(tmp_path.iterdir()) == []  # no staging, no lock


def test_ctrl_c_during_a_first_predict_caches_nothing(tmp_path: Path) -> None:
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    home = tmp_path / "home"
    process = launch(["predict", "mnist-mlp3", str(image)], ZOO_HOME=str(home))
    wait_for(home, ".manifest.json.*.tmp", process)
    interrupted(
        process, "the export of mnist-mlp3", "for zoo predict stopped", "nothing was cached"
    )
    assert list((home / "predict").iterdir()) == []


def test_ctrl_c_during_a_bench_says_nothing_was_measured(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    args = ["bench", *WEIGHTS, "--backends", "eager,onnxruntime", "--report", str(report)]
    process = launch(args, TMPDIR=str(tmp_path))  # bench exports into a temporary directory
    wait_for(tmp_path, ".manifest.json.*.tmp", process)
    out = interrupted(process, "the benchmark of mnist-mlp3 stopped", "nothing was printed")
    assert out == "" and not report.exists()
    assert not list(tmp_path.glob("zoo-bench-*"))  # its temporary export removed


@pytest.mark.usefixtures("tiny_entries")
def test_ctrl_c_during_an_eval_writes_no_results(tmp_path: Path) -> None:
    ok("train", "tiny-net", *TINY_DATA, "--epochs", "1", "--device", "cpu", "--out", tmp_path)
    run = run_dir(tmp_path)
    gate = tmp_path / "gate"  # never opened: the dataset waits until Ctrl-C
    process = start("eval", str(run), "--dataset", "gated", "--dataset-arg", f"gate={gate}")
    wait_for(tmp_path, "gate.*", process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    last = output.strip().splitlines()[-1]
    assert last == f"interrupted: the evaluation of {run} stopped; no results were written"
    assert not (run / "eval").exists()
