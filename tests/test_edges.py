"""Smaller edges a new user reaches: a --data-dir that was named must be there (and hold the data),
messages that say what to pass, eval's progress, whole epochs on a one-epoch run's plots, too few
held-out items warned of, grammar."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import zoo_here
from train_support import TINY_DATA

from zoo.artifacts.run import EpochMetrics
from zoo.train.report import curve_figure

WEIGHTS = ["mnist-mlp3", "--weights", "default"]
TINY = ["tiny-net", *TINY_DATA, "--device", "cpu"]


def one_line(result, *parts: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("edges") / "export"
    result = zoo_here("export", *WEIGHTS, "--onnx", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("command", ["bench", "verify", "export", "eval", "train"])
def test_a_data_dir_named_and_missing_is_one_line(
    command: str, exported: Path, tmp_path: Path
) -> None:
    source = [str(exported)] if command in ("bench", "verify") else WEIGHTS
    if command == "train":
        source = ["mnist-mlp3", "-d", "mnist-5k"]
    missing = tmp_path / "no-such-dir"
    one_line(zoo_here(command, *source, "--data-dir", str(missing)), f"{missing} does not exist")
    a_file = tmp_path / "data.txt"
    a_file.write_text("")
    one_line(zoo_here(command, *source, "--data-dir", str(a_file)), f"{a_file} is a file")


def test_a_named_data_dir_without_the_data_is_one_line(tmp_path: Path) -> None:
    """bench went on with random images, saying "pass --data-dir" though it had been passed."""
    args = ["cifar10-cnn", "--weights", "default", "--backends", "eager"]
    result = zoo_here("bench", *args, "--data-dir", str(tmp_path))
    one_line(result, f"--data-dir {tmp_path}: ", "no images found")


def test_verify_measures_top1_again_where_the_data_is_here(exported: Path) -> None:
    result = zoo_here("verify", str(exported))  # mnist-5k ships with zoo: no --data-dir needed
    assert result.returncode == 0, result.stderr
    assert "top-1 measured again on all 1,000 real test samples" in " ".join(result.stdout.split())


def test_missing_data_says_to_pass_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "nothing-here"))
    result = zoo_here("eval", "cifar10-cnn", "--weights", "default")
    one_line(result, "does not exist", "pass --data-dir DIR (or set ZOO_DATA_DIR)")


def test_eval_shows_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # a terminal, as far as the progress bar knows
    result = zoo_here("eval", *WEIGHTS, "--batch-size", "100", "--out", str(tmp_path / "e"))
    assert result.returncode == 0, result.stderr
    assert "evaluating: batch 10 of 10" in result.stderr  # 1,000 test digits


def test_a_one_epoch_run_plots_whole_epochs() -> None:
    row = EpochMetrics.from_json(
        {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.1,
         "test_accuracy": 0.4, "seconds": 1.0, "images_per_second": 10.0, "train_items": 10}
    )  # fmt: skip
    for name in ("loss", "accuracy"):
        axes = curve_figure([row], name, title="run", kept=1, best=False).axes[0]
        low, high = axes.get_xlim()
        ticks = [tick for tick in axes.get_xticks() if low <= tick <= high]
        assert ticks == [1.0] and all(math.isclose(t, round(t)) for t in ticks)


@pytest.mark.usefixtures("tiny_entries")
def test_too_few_held_out_items_are_warned_of_and_one_epoch_is_singular(tmp_path: Path) -> None:
    result = zoo_here(
        "train", *TINY, "--epochs", "1", "--val-split", "2", "--out", "runs", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert (
        "warning: validation on 2 items held out of the train split (too few: under 10 per class)"
        in text
    )
    assert "validation: 2 items held out of the train split (too few: under 10 per class)" in text
    (run,) = (tmp_path / "runs").iterdir()
    again = zoo_here("train", "--resume", str(run))
    one_line(again, "already finished its 1 epoch:")


def class_sorted_images(root: Path) -> Path:
    """An image folder whose items list class by class (as any class-folder tree does): the
    first N items are all of the first class."""
    import numpy as np
    from PIL import Image

    for split, count in (("train", 12), ("test", 10)):
        for label, name in enumerate(("a", "b", "c")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = np.full((8, 8, 3), 40 + 80 * label + index, np.uint8)
                Image.fromarray(pixels).save(folder / f"{index:02}.png")
    return root


@pytest.mark.usefixtures("tiny_entries")
def test_export_and_bench_measure_on_samples_stratified_by_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The samples the commands really use, not just the sampler: the first 6 items of a
    class-sorted split would all be class 'a'."""
    import json

    import numpy as np

    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "default-data"))
    data = class_sorted_images(tmp_path / "data")
    train = ["tiny-net", "-d", "imagefolder", "--data-dir", str(data), "--epochs", "1"]
    assert (
        zoo_here("train", *train, "--device", "cpu", "--out", "runs", cwd=tmp_path).returncode == 0
    )
    (run,) = (tmp_path / "runs").iterdir()
    out = tmp_path / "export"
    exported = zoo_here("export", str(run), "--onnx", "--check-samples", "6", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    with np.load(out / "verification.npz") as checks:
        assert sorted(checks["labels"].tolist()) == [0, 0, 1, 1, 2, 2]
    elsewhere = zoo_here("verify", str(out))  # the data is not in the default data folder
    said = " ".join(elsewhere.stdout.split())
    assert elsewhere.returncode == 0 and "top-1 measured again" not in said
    assert "top-1 not measured again: pass --data-dir DIR where imagefolder's files are" in said
    here = zoo_here("verify", str(out), "--data-dir", str(data))
    assert here.returncode == 0 and "top-1 measured again on" in here.stdout
    bench = zoo_here("bench", str(run), "--backends", "eager", "--test-samples", "6", "--json")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["per_class"] == {"a": 2, "b": 2, "c": 2}
