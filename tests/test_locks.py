"""Two commands on one run, one sweep, one export directory: the second is one line naming the
process that holds it (exit 2), and a holder killed with SIGKILL never leaves the lock stuck.
Real processes, real operating-system locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import zoo_here
from train_support import TINY_DATA, metrics, ok, start, wait_for_epoch

from zoo.files import FAULT_ENV, LOCK_INFO_AT, lock_beside, lock_file
from zoo.sweep import state

SLOWER = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu"]
SLOWER += ["--model-arg", "delay=0.25"]  # about a second an epoch

pytestmark = pytest.mark.usefixtures("tiny_entries")


def held_by(lock: Path, process: subprocess.Popen[str]) -> None:
    """Wait until ``process`` holds ``lock`` (it writes its pid there once it has it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if json.loads(lock.read_bytes()[LOCK_INFO_AT:] or b"{}").get("pid") == process.pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{lock} not held within 120 s")


def refused(second: subprocess.Popen[str], message: str) -> None:
    output, _ = second.communicate(timeout=120)
    lines = output.strip().splitlines()
    assert second.returncode == 2, output
    assert lines[-1].startswith("error: ") and message in lines[-1], output
    assert "wait for it, or stop it first" in lines[-1] and "Traceback" not in output


def killed(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def test_a_second_resume_of_a_run_being_trained_is_refused(tmp_path: Path) -> None:
    slow = {FAULT_ENV: "pause=120:last.safetensors:2"}  # epoch 2's save takes two minutes
    first = start("train", *SLOWER, "--epochs", "4", "--out", str(tmp_path), **slow)
    try:
        run = wait_for_epoch(tmp_path, 1, first)
        held_by(lock_file(run), first)
        refused(start("train", "--resume", str(run)), f"is being trained by process {first.pid}")
    finally:
        killed(first)  # SIGKILL, inside a save: the operating system lets go of the lock
    ok("train", "--resume", run)
    epochs = [row["epoch"] for row in metrics(run)]
    assert epochs == [1, 2, 3, 4]  # each epoch once


def test_a_second_command_on_a_sweep_being_run_is_refused(tmp_path: Path) -> None:
    grid = ["--grid", "lr=0.1,0.01", "--epochs", "3"]
    first = start("sweep", *SLOWER, *grid, "--out", str(tmp_path))
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("sweep-*/sweep.json")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        (sweep,) = (path.parent for path in tmp_path.glob("sweep-*/sweep.json"))
        held_by(lock_file(sweep), first)
        refused(start("sweep", "--resume", str(sweep)), f"is being run by process {first.pid}")
    finally:
        killed(first)
    with state.lock(sweep):  # not stuck
        pass


def test_a_second_export_into_one_directory_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "export"
    args = ["export", "mnist-mlp3", "--weights", "default", "--onnx", "--out", str(out)]
    zoo = Path(sys.executable).with_name("zoo")
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    slow = {**environment, FAULT_ENV: "pause=60:manifest.json:1"}  # holds it for a minute
    first = subprocess.Popen(
        [str(zoo), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=slow
    )
    try:
        held_by(lock_beside(out), first)
        second = subprocess.Popen(
            [str(zoo), *args, "--force"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
        )
        refused(second, f"{out} is being exported into by process {first.pid}")
    finally:
        killed(first)
    assert not out.exists()  # the killed export left nothing half-done
    result = zoo_here(*args)
    assert result.returncode == 0, result.stderr
    assert (out / "manifest.json").is_file()
