"""Output at any width: at 80 columns every line of training, export and bench fits (wrapped at
words, nothing cut) and tables stay tables (a header row, one row per item, never a stack of
``key: value`` blocks); at 200 columns the same output keeps each line whole and titles on one
line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import zoo_here
from train_support import TINY_DATA

pytestmark = pytest.mark.usefixtures("tiny_entries")
TINY = ["tiny-net", *TINY_DATA, "--device", "cpu", "--epochs", "2", "--out", "runs"]
BENCH = ["--backends", "eager,onnxruntime", "--max-time", "0.2", "--test-samples", "32"]
STACKED = re.compile(r"^  (backend|device|precision|file|top-1|p50 ms|max abs diff): ")  # blocks


def lines_of(result) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export directory made once, with a short relative path."""
    root = tmp_path_factory.mktemp("widths")
    result = zoo_here(
        "export", "mnist-mlp3", "--weights", "default", "--onnx", "--out", "e", cwd=root
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.parametrize("columns", [80, 200])
def test_training_lines_fit_the_terminal(tmp_path: Path, columns: int) -> None:
    lines = lines_of(zoo_here("train", *TINY, cwd=tmp_path, columns=columns))
    assert max(map(len, lines)) <= columns
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2
    header = "kept weights: epoch 2 (last), on the test split"
    assert header in lines  # a table title on a line of its own, whole
    table = lines.index(header) + 1
    assert lines[table].split() == ["Class", "Correct", "Total", "Accuracy"]
    if columns == 200:  # each epoch on one line
        assert all("img/s" in line for line in epochs)
    else:  # wrapped at words, the continuation indented
        assert all(lines[lines.index(e) + 1].startswith("  ") for e in epochs)


@pytest.mark.parametrize("columns", [80, 200])
def test_export_lines_fit_the_terminal(exported: Path, columns: int) -> None:
    args = ["export", "mnist-mlp3", "--weights", "default", "--onnx", "--int8", "--out", "e"]
    lines = lines_of(zoo_here(*args, "--force", cwd=exported, columns=columns))
    assert max(map(len, lines)) <= columns
    text = " ".join(" ".join(lines).split())
    assert "ok ONNX e/mnist-mlp3.onnx" in text and "top-1" in text


@pytest.mark.parametrize("columns", [80, 200])
def test_bench_tables_stay_tables(exported: Path, columns: int) -> None:
    lines = lines_of(zoo_here("bench", "e", *BENCH, cwd=exported, columns=columns))
    assert max(map(len, lines)) <= columns
    assert "Backends" in lines and "Parity against eager" in lines
    headers = [line.split() for line in lines if line.startswith(("backend ", "batch "))]
    assert headers and headers[0][0] == "backend"
    if columns == 200:  # every column in one table
        assert headers[0][:3] == ["backend", "device", "precision"]
    assert not [line for line in lines if STACKED.match(line)]
    assert len(lines) < 45  # ~180 lines of stacked blocks before
