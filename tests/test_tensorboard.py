"""TensorBoard event files of `zoo train --tensorboard` and of a sweep's runs, read back with
TensorBoard's own reader (EventAccumulator)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import train_support
from train_support import TINY_DATA, ok, run_dir, saved_epoch, start

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
from tensorboard.plugins.hparams import metadata  # noqa: E402

TINY = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("tiny_entries")


def events(run: Path) -> event_accumulator.EventAccumulator:
    """Everything TensorBoard reads from a run directory, nothing sampled away."""
    reader = event_accumulator.EventAccumulator(
        str(run), size_guidance={"scalars": 0, "images": 0, "tensors": 0}
    )
    reader.Reload()
    return reader


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def scalars(reader: event_accumulator.EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in reader.Scalars(tag)]


def hparams_of(reader: event_accumulator.EventAccumulator) -> dict:
    content = reader.PluginTagToContent("hparams")
    start_info = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG]
    )
    values = {}
    for key, value in start_info.hparams.items():
        kind = value.WhichOneof("kind")
        values[key] = getattr(value, kind)
    return values


def test_train_writes_scalars_images_and_hparams(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "2", "--val-split", "0.25", "--tensorboard", "--out", tmp_path)
    run = run_dir(tmp_path)
    reader = events(run)
    tags = reader.Tags()
    rows = history(run)
    for tag, key in [
        ("loss/train", "train_loss"),
        ("accuracy/train", "train_accuracy"),
        ("loss/val", "val_loss"),
        ("accuracy/val", "val_accuracy"),
        ("learning_rate", "lr"),
        ("speed/images_per_second", "images_per_second"),
    ]:
        expected = [(row["epoch"], pytest.approx(row[key], rel=1e-6)) for row in rows]
        assert scalars(reader, tag) == expected, tag
    assert {"samples", "confusion_matrix", "confusion_matrix/kept"} <= set(tags["images"])
    samples = reader.Images("samples")[0]
    assert (samples.width, samples.height) == (8 * 8, 4 * 8)  # 32 images of 8×8, 8 a row
    assert [image.step for image in reader.Images("confusion_matrix")] == [1, 2]
    assert reader.Images("confusion_matrix")[0].encoded_image_string[:4] == b"\x89PNG"

    hparams = hparams_of(reader)
    assert hparams["lr"] == pytest.approx(1e-3) and hparams["batch_size"] == 16
    assert hparams["optimizer"] == "adam" and hparams["dataset.size"] == 64
    experiment = metadata.parse_experiment_plugin_data(
        reader.PluginTagToContent("hparams")[metadata.EXPERIMENT_TAG]
    )
    metrics = {info.name.tag for info in experiment.metric_infos}
    assert {"hparams/val_accuracy", "hparams/val_loss", "hparams/train_loss"} <= metrics
    best = max(row["val_accuracy"] for row in rows)
    assert scalars(reader, "hparams/val_accuracy") == [(2, pytest.approx(best))]


def test_regression_runs_log_mae_and_no_images(tmp_path: Path) -> None:
    ok(
        "train",
        "linear-regression",
        "--dataset",
        "crop-yields",
        "--epochs",
        "1",
        "--tensorboard",
        "--out",
        tmp_path,
    )
    reader = events(run_dir(tmp_path))
    assert {"mae/train", "mae/test", "loss/test"} <= set(reader.Tags()["scalars"])
    assert reader.Tags()["images"] == []
    assert scalars(reader, "hparams/test_mae")[0][1] == pytest.approx(
        history(run_dir(tmp_path))[0]["test_mae"]
    )


def test_a_resumed_run_continues_its_curves_after_a_kill(tmp_path: Path) -> None:
    slow = [*TINY, "--model-arg", "delay=0.05", "--epochs", "6", "--tensorboard"]
    process = start("train", *slow, "--out", str(tmp_path))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        if any(saved_epoch(run) >= 2 for run in tmp_path.iterdir()):
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    run = run_dir(tmp_path)
    ok("train", "--resume", run)
    reader = events(run)
    assert [step for step, _ in scalars(reader, "loss/train")] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in scalars(reader, "accuracy/test")] == [1, 2, 3, 4, 5, 6]


def test_each_run_of_a_sweep_carries_its_hparams(tmp_path: Path) -> None:
    ok("sweep", *TINY, "--epochs", "1", "--grid", "lr=0.02,0.002", "--out", tmp_path)
    sweep = next(tmp_path.glob("sweep-*"))
    found = {}
    for run in sorted(p for p in sweep.iterdir() if (p / "config.json").exists()):
        reader = events(run)
        found[hparams_of(reader)["lr"]] = scalars(reader, "hparams/val_accuracy")[0][1]
    assert sorted(found) == pytest.approx([0.002, 0.02])
    results = json.loads((sweep / "results.json").read_text())
    assert sorted(found.values()) == pytest.approx(sorted(r["val_accuracy"] for r in results))


def test_missing_tensorboard_is_one_line_before_training(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['tensorboard'] = None; "
        "sys.path.insert(0, 'tests'); import train_support; train_support.register(); "
        "from zoo.cli.app import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "train", *TINY, "--tensorboard", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=train_support.environment(),
        cwd=Path(__file__).parent.parent,
        timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        "error: --tensorboard needs the tensorboard package: pip install 'torch-zoo[tensorboard]'"
    )
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
