"""Outputs that cannot be written are one line and exit status 2 before any work starts, for every
command that writes (train, sweep, export, eval, bench --report, publish, new-plugin, the cache of
`zoo predict MODEL`); and a write that fails once the work is done (a disk full) comes after the
results are shown, so the measurement is never lost.

A folder the process may not write: its mode says so (which stops anyone but root), and
``os.access``, which :func:`zoo.files.check_folder` asks, says so for root too (root may write
anything, which a read-only file system would stop).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import zoo_here
from PIL import Image

import zoo.files

WEIGHTS = ["mnist-mlp3", "--weights", "default"]


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder this process may not write (nor anything below it)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_access = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        inside = Path(str(path)).resolve().is_relative_to(folder.resolve())
        if inside and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def digit(path: Path) -> Path:
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(path)
    return path


def one_line(result, *parts: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


COMMANDS = {
    "train": ["train", "mnist-mlp3", "-d", "mnist-5k", "--out", "{ro}/runs"],
    "sweep": ["sweep", "mnist-mlp3", "-d", "mnist-5k", "--grid", "lr=0.1,0.01", "--out", "{ro}"],
    "export": ["export", *WEIGHTS, "--onnx", "--out", "{ro}/export"],
    "eval": ["eval", *WEIGHTS, "--out", "{ro}/eval"],
    "bench": ["bench", *WEIGHTS, "--backends", "eager", "--report", "{ro}/bench.md"],
    "publish": ["publish", "{weights}", "--name", "v2", "--out", "{ro}/release"],
    "new-plugin": ["new-plugin", "my-net", "--dir", "{ro}"],
    "model-repo": ["model-repo", *WEIGHTS, "-o", "{ro}/repo"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(
    command: str, read_only: Path, tmp_path: Path
) -> None:
    weights = Path(zoo.__file__).parent / "models" / "weights" / "mnist-mlp3-mnist-5k.safetensors"
    args = [a.format(ro=read_only, weights=weights) for a in COMMANDS[command]]
    result = zoo_here(*args, cwd=tmp_path)
    line = one_line(result, "cannot write", str(read_only), "permission denied")
    assert result.stdout == "", result.stdout  # nothing measured, nothing printed
    assert not any(read_only.iterdir()), line


def test_a_read_only_zoo_home_is_one_line_for_predict(
    read_only: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(read_only / "home"))
    result = zoo_here("predict", "mnist-mlp3", str(digit(tmp_path / "7.png")))
    one_line(result, "cannot write the cache folder", "set ZOO_HOME to a folder you may write")


@pytest.mark.parametrize(
    "args",
    [
        ["train", "mnist-mlp3", "-d", "mnist-5k", "--out", "{file}"],
        ["eval", *WEIGHTS, "--out", "{file}"],
        ["export", *WEIGHTS, "--onnx", "--out", "{file}"],
        ["new-plugin", "my-net", "--dir", "{file}"],
        ["model-repo", *WEIGHTS, "-o", "{file}"],
    ],
    ids=lambda args: args[0],
)
def test_a_file_where_a_folder_goes_is_one_line(args: list[str], tmp_path: Path) -> None:
    file = tmp_path / "taken.txt"
    file.write_text("mine\n")
    result = zoo_here(*(a.format(file=file) for a in args), cwd=tmp_path)
    one_line(result, str(file), "is a file")
    assert file.read_text() == "mine\n"


def test_a_folder_below_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = zoo_here("eval", *WEIGHTS, "--out", str(tmp_path / "taken" / "eval"))
    one_line(result, "cannot create", "taken is a file, not a folder")


def test_a_report_where_a_folder_is_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "b.md").mkdir()
    result = zoo_here("bench", *WEIGHTS, "--backends", "eager", "--report", str(tmp_path / "b.md"))
    one_line(result, "--report", "is a folder, not a file")


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every atomic write fails as on a full disk (after the folders were checked)."""

    def full(path: Path, write: object) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(zoo.files, "atomic_write", full)


@pytest.mark.usefixtures("disk_full")
def test_eval_shows_its_results_before_a_write_fails(tmp_path: Path) -> None:
    result = zoo_here("eval", *WEIGHTS, "--out", str(tmp_path / "eval"))
    line = one_line(result, "No space left on device", "the results above were not saved")
    assert str(tmp_path / "eval") in line
    assert "accuracy" in result.stdout and "mnist-mlp3" in result.stdout  # the measurement


@pytest.mark.usefixtures("disk_full")
def test_bench_shows_its_results_before_its_report_fails(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = zoo_here("bench", *WEIGHTS, "--backends", "eager", "--report", str(report))
    one_line(result, f"cannot write {report}", "No space left on device")
    assert "eager" in result.stdout and "top-1" in result.stdout  # the table was printed
