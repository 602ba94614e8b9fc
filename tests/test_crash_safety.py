"""Checkpoints survive crashes: a writer killed inside a save leaves the last complete checkpoint,
resume refuses weights and training state of different epochs, a second Ctrl-C stops at once,
and a Ctrl-C during a save waits for it. Faults happen inside real writes of real subprocesses,
through the ``ZOO_TEST_FAULT`` test hook of zoo/train/checkpoint.py."""

from __future__ import annotations

import shutil
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
    zoo_cli,
)

import zoo
from zoo.artifacts.checkpoint import load_state, resume_point
from zoo.errors import ZooError
from zoo.files import FAULT_ENV

TINY = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu", "--seed", "4"]
EPOCHS = ["--epochs", "4"]
SLOW = [*TINY, "--model-arg", "delay=0.04"]  # 4 steps an epoch: about 0.2 s
SLOWER = [*TINY, "--model-arg", "delay=0.25"]  # about a second an epoch


pytestmark = pytest.mark.usefixtures("tiny_entries")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, float]]:
    """The metrics of an uninterrupted four-epoch run (in this process)."""
    train_support.register()
    out = tmp_path_factory.mktemp("reference")
    ok("train", *TINY, *EPOCHS, "--out", out)
    zoo.reload_registry()
    return metrics(run_dir(out))


@pytest.mark.parametrize("file", ["last.next.state.pt", "last.safetensors"])
def test_a_writer_killed_inside_a_save_leaves_the_last_checkpoint(
    tmp_path: Path, reference: list[dict[str, float]], file: str
) -> None:
    """Killed half-way through epoch 2's training state (written first) or weights (last)."""
    process = start("train", *SLOW, *EPOCHS, "--out", str(tmp_path), **{FAULT_ENV: f"die:{file}:2"})
    output, _ = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, output
    run = run_dir(tmp_path)
    checkpoints = run / "checkpoints"
    (cut,) = checkpoints.glob(f".{file}.*.tmp")  # the write it died in, half done
    assert cut.stat().st_size > 0
    assert saved_epoch(run) == 1  # the last complete checkpoint
    checkpoint, state = resume_point(run)
    assert checkpoint.epoch == state["epoch"] == 1
    assert "resuming at epoch 2 of 4" in ok("train", "--resume", run)
    same_metrics(metrics(run), reference)


def test_resume_takes_weights_and_training_state_of_one_epoch_only(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "1", "--out", tmp_path / "one")
    ok("train", *TINY, "--epochs", "2", "--out", tmp_path / "two")
    one, two = run_dir(tmp_path / "one") / "checkpoints", run_dir(tmp_path / "two")
    state_two = two / "checkpoints" / "last.state.pt"
    shutil.copy(state_two, tmp_path / "state-2.pt")
    shutil.copy(one / "last.state.pt", state_two)  # weights from epoch 2, state from epoch 1
    message = "weights are from epoch 2, the training state from epoch 1"
    with pytest.raises(ZooError, match=message):
        resume_point(two)
    result = zoo_cli("train", "--resume", two, "--epochs", "3")
    assert isinstance(result.exception, ZooError) and message in str(result.exception)

    # a save cut off between renaming the weights and renaming their (pending) state
    shutil.copy(tmp_path / "state-2.pt", two / "checkpoints" / "last.next.state.pt")
    checkpoint, state = resume_point(two)
    assert checkpoint.epoch == state["epoch"] == 2
    assert "resuming at epoch 3 of 3" in ok("train", "--resume", two, "--epochs", "3")

    shutil.copy(one / "last.safetensors", two / "checkpoints" / "last.safetensors")
    assert load_state(state_two)["epoch"] == 3  # weights from epoch 1, state from epoch 3
    with pytest.raises(ZooError, match="weights are from epoch 1, the training state from epoch 3"):
        resume_point(two)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(
    tmp_path: Path, reference: list[dict[str, float]]
) -> None:
    process = start("train", *SLOWER, *EPOCHS, "--out", str(tmp_path))
    run = wait_for_epoch(tmp_path, 1, process)
    time.sleep(0.2)  # into epoch 2, which takes about a second
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "stopped after epoch 1" in output
    assert saved_epoch(run) == 1 and len(metrics(run)) == 1  # epoch 2 was not finished
    ok("train", "--resume", run)
    same_metrics(metrics(run), reference)


def test_a_ctrl_c_during_a_save_takes_effect_once_the_save_is_complete(
    tmp_path: Path, reference: list[dict[str, float]]
) -> None:
    fault = {FAULT_ENV: "pause=2:last.safetensors:1"}  # epoch 1's weights take 2 s to write
    process = start("train", *SLOW, *EPOCHS, "--out", str(tmp_path), **fault)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("*/checkpoints/.last.safetensors.*.tmp")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # stop after this epoch
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)  # stop now: deferred until the write is done
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    run = run_dir(tmp_path)
    assert "stopped after epoch 1" in output
    assert saved_epoch(run) == 1 and not list(run.glob("checkpoints/.*.tmp"))
    checkpoint, state = resume_point(run)
    assert checkpoint.epoch == state["epoch"] == 1
    ok("train", "--resume", run)
    same_metrics(metrics(run), reference)
