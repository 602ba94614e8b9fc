"""``zoo data NAME``: the summary, the per-class counts and the PNG plots, as a user runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run_zoo
from PIL import Image
from typer.testing import CliRunner

from zoo.cli.app import app

runner = CliRunner()
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def zoo_data(*args: str) -> str:
    result = runner.invoke(app, ["data", *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def printed_counts(output: str, classes: list[str]) -> dict[str, tuple[int, int]]:
    """The Class / Train / Test rows of the printed table."""
    counts = {}
    for name in classes:
        match = re.search(rf"^\s*{re.escape(name)}\s+(\d+)\s+(\d+)\s*$", output, re.MULTILINE)
        assert match, f"no count row for {name!r} in:\n{output}"
        counts[name] = (int(match[1]), int(match[2]))
    return counts


def assert_png(path: Path, min_size: tuple[int, int] = (300, 150)) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= min_size[0] and image.height >= min_size[1]
        image.verify()


@pytest.mark.parametrize(
    ("name", "train", "test"), [("mnist-5k", 400, 100), ("digits", None, None)]
)
def test_bundled_dataset_summary_and_plots(tmp_path, name, train, test):
    output = zoo_data(name, "--out", str(tmp_path))
    assert "input shape: 1×" in output and "normalisation: mean (0." in output
    classes = [f"{d} - {w}" for d, w in enumerate(NUMBERS)]
    classes = classes if name == "mnist-5k" else [str(d) for d in range(10)]
    counts = printed_counts(output, classes)
    from zoo.factory import create_dataset

    expected = [
        np.bincount(create_dataset(name, train=t).targets, minlength=10) for t in (True, False)
    ]
    assert [c[0] for c in counts.values()] == expected[0].tolist()
    assert [c[1] for c in counts.values()] == expected[1].tolist()
    if train is not None:
        assert set(counts.values()) == {(train, test)} and "balanced" in output
    for suffix in ("samples", "class-counts"):
        path = tmp_path / f"{name}-{suffix}.png"
        assert f"wrote {path}" in output
        assert_png(path)


def test_image_folder_json_report(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("cat", 9), ("dog", 3)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{index}.jpg")
    output = zoo_data(
        "imagefolder", "--data-dir", str(tmp_path / "images"), "--out", str(tmp_path / "out"),
        "--dataset-arg", "test_fraction=0.34", "--json",
    )  # fmt: skip
    report = json.loads(output)
    assert report["classes"] == ["cat", "dog"] and report["input_shape"] == [3, 16, 16]
    assert report["sizes"] == {"train": 8, "test": 4}
    assert report["counts"] == {"train": [6, 2], "test": [3, 1]} and report["imbalance"] == 3.0
    assert report["mean"] is None
    assert len(report["files"]) == 2
    for path in report["files"]:
        assert_png(Path(path))


def test_image_folder_imbalance_is_noted(tmp_path):
    for name, count in (("few", 2), ("many", 8)):
        (tmp_path / name).mkdir()
        for index in range(count):
            Image.new("L", (8, 8), index * 20).save(tmp_path / name / f"{index}.png")
    output = zoo_data("imagefolder", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert "imbalanced" in output and "ratio 3.00" in output
    assert printed_counts(output, ["few", "many"]) == {"few": (2, 0), "many": (6, 2)}


def test_regression_table_gets_statistics_and_a_scatter_plot(tmp_path):
    output = zoo_data("crop-yields", "--out", str(tmp_path))
    assert "train 1,000 · test 200" in output and "3 features" in output
    for column in ("temperature", "rainfall", "humidity", "apples", "oranges"):
        assert re.search(rf"^\s*{column}\s+(feature|target)(\s+-?\d+\.\d\d){{4}}", output, re.M)
    assert_png(tmp_path / "crop-yields-scatter.png")
    assert not (tmp_path / "crop-yields-samples.png").exists()


def test_help_has_an_example():
    assert "Example: zoo data" in runner.invoke(app, ["data", "--help"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "no-such-data"], "unknown dataset 'no-such-data'"),
        (["data", "cifar10", "--data-dir", "{tmp}"], "{tmp}/cifar-10-batches-py/"),
    ],
)
def test_errors_are_one_line(tmp_path, args, message):
    result = run_zoo(*(a.format(tmp=tmp_path) for a in args), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message.format(tmp=tmp_path) in result.stderr
