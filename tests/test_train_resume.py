"""Nothing lost: a run killed with SIGKILL, or stopped with Ctrl-C, resumes and ends as an
uninterrupted run does; runs started in the same second get their own directories. The
interrupted runs are real subprocesses."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import train_support
from train_support import (
    TINY_DATA,
    metrics,
    ok,
    run_dir,
    same_metrics,
    saved_epoch,
    start,
    wait_for_epoch,
)

import zoo

# 64 images in batches of 16 with a 0.04 s sleep per step: about 0.2 s an epoch
SLOW = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu", "--seed", "3"]
SLOW += ["--model-arg", "delay=0.04"]
EPOCHS = ["--epochs", "5"]


pytestmark = pytest.mark.usefixtures("tiny_entries")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, float]]:
    """The metrics of an uninterrupted run of SLOW for five epochs (in this process)."""
    train_support.register()
    out = tmp_path_factory.mktemp("reference")
    ok("train", *SLOW, *EPOCHS, "--out", out)
    zoo.reload_registry()
    return metrics(run_dir(out))


def test_sigkilled_run_resumes_from_its_last_checkpoint_and_matches(
    tmp_path: Path, reference: list[dict[str, float]]
) -> None:
    process = start("train", *SLOW, *EPOCHS, "--out", str(tmp_path))
    run = wait_for_epoch(tmp_path, 2, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    saved = saved_epoch(run)
    assert 2 <= saved < 5
    output = ok("train", "--resume", run)
    assert f"resuming at epoch {saved + 1} of 5" in output
    same_metrics(metrics(run), reference)


def test_ctrl_c_finishes_the_epoch_saves_and_resumes_to_the_same_metrics(
    tmp_path: Path, reference: list[dict[str, float]]
) -> None:
    process = start("train", *SLOW, *EPOCHS, "--out", str(tmp_path))
    run = wait_for_epoch(tmp_path, 1, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    saved = saved_epoch(run)
    assert saved < 5 and len(metrics(run)) == saved
    assert "stopping after this epoch" in output and f"stopped after epoch {saved}" in output
    assert f"resume with:\n  zoo train --resume {run}" in output
    ok("train", "--resume", run)
    same_metrics(metrics(run), reference)


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path: Path) -> None:
    for attempt in range(3):  # a loaded machine can push the second start past the second
        runs = start_two_runs_at_once(tmp_path / str(attempt))
        stamps = {re.sub(r"(-\d{6})-\d+$", r"\1", run.name) for run in runs}
        if len(stamps) < len(runs):
            break
    assert len(stamps) < len(runs), runs  # at least two started in the same second
    for run in runs:
        assert [m["epoch"] for m in metrics(run)] == [1] and saved_epoch(run) == 1
        for name in ("config.json", "per_class.json", "plots/loss.png", "checkpoints/last.json"):
            assert (run / name).is_file(), (run, name)


def start_two_runs_at_once(tmp_path: Path) -> list[Path]:
    """Two `zoo train` held at a gate, released together at the start of a second; their runs."""
    tmp_path.mkdir()
    gate = tmp_path / "gate"
    args = ["tiny-net", "--dataset", "gated", "--dataset-arg", f"gate={gate}", "--epochs", "1"]
    args += ["--batch-size", "16", "--device", "cpu", "--out", str(tmp_path / "runs")]
    processes = [start("train", *args) for _ in range(2)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("gate.*"))) < len(processes):  # all waiting at the gate
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes)
        time.sleep(0.02)
    while time.time() % 1 > 0.05:  # release them at the start of a second
        time.sleep(0.005)
    gate.touch()
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * len(processes), outputs
    printed = {re.search(r"run directory: (\S+)", output)[1] for output in outputs}
    runs = sorted((tmp_path / "runs").iterdir())
    assert {str(run) for run in runs} == printed and len(runs) == len(processes)
    return runs
