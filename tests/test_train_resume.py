"""Nothing lost: a run killed with SIGKILL, or stopped with Ctrl-C, resumes and ends as an
uninterrupted run does. The interrupted runs are real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import train_support
from train_support import TINY_DATA, metrics, run_dir, start
from typer.testing import CliRunner

import zoo
from zoo.cli import app

# 64 images in batches of 16 with a 0.04 s sleep per step: about 0.2 s an epoch
SLOW = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu", "--seed", "3"]
SLOW += ["--model-arg", "delay=0.04"]


@pytest.fixture(autouse=True)
def tiny_entries():
    train_support.register()
    yield
    zoo.reload_registry()


def ok(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def wait_for_epoch(out: Path, epoch: int, process: subprocess.Popen[str]) -> Path:
    """The run directory, once its last checkpoint is from ``epoch`` or later."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        for last in out.glob("*/checkpoints/last.json"):
            if json.loads(last.read_text())["epoch"] >= epoch:
                return last.parent.parent
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} within 60 s")


def same_metrics(got: list[dict[str, float]], expected: list[dict[str, float]]) -> None:
    assert [m["epoch"] for m in got] == [m["epoch"] for m in expected]
    for a, b in zip(got, expected, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7)


def test_sigkilled_run_resumes_from_its_last_checkpoint_and_matches(tmp_path: Path) -> None:
    process = start("train", *SLOW, "--epochs", "5", "--out", str(tmp_path / "killed"))
    run = wait_for_epoch(tmp_path / "killed", 2, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    saved = json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    assert 2 <= saved < 5
    output = ok("train", "--resume", run)
    assert f"resuming at epoch {saved + 1} of 5" in output
    ok("train", *SLOW, "--epochs", "5", "--out", tmp_path / "reference")
    same_metrics(metrics(run), metrics(run_dir(tmp_path / "reference")))


def test_ctrl_c_finishes_the_epoch_saves_and_prints_the_resume_command(tmp_path: Path) -> None:
    process = start("train", *SLOW, "--epochs", "6", "--out", str(tmp_path))
    run = wait_for_epoch(tmp_path, 1, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    saved = json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    assert saved < 6 and len(metrics(run)) == saved
    assert "stopping after this epoch" in output
    assert f"resume with:\n  zoo train --resume {run}" in output
    ok("train", "--resume", run)
    assert len(metrics(run)) == 6
