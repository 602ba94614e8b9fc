"""`zoo train` under torchrun: two CPU processes on gloo, each on its shard, rank 0 writing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import train_support
from rich.console import Console
from train_support import HERE, TINY_DATA, environment, metrics, run_dir

import zoo
from zoo.train.evaluation import evaluate_checkpoint


@pytest.fixture(autouse=True)
def tiny_entries():
    train_support.register()
    yield
    zoo.reload_registry()


def test_two_processes_train_with_ddp_on_gloo(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
        str(HERE), "train", "tiny-net", *TINY_DATA, "--batch-size", "8", "--epochs", "2",
        "--device", "cpu", "--out", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=environment(), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("× 2 processes") == 1  # rank 0 alone prints
    run = run_dir(tmp_path)  # and writes: one run directory
    history = metrics(run)
    assert [m["epoch"] for m in history] == [1, 2]
    assert all(m["train_items"] == 64 for m in history)  # two shards of 32, not 2 × 64
    report = evaluate_checkpoint(str(run), Console(quiet=True))
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    assert report["accuracy"] == last["metrics"]["test_accuracy"]  # summed over both ranks
    assert report["items"] == 16
