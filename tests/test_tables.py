"""Tables never cut what people copy: identifiers, paths and numbers survive narrow terminals."""

from __future__ import annotations

import sys

import pytest
from rich.console import Console

from zoo.cli.app import main
from zoo.cli.output import show_table


def run(args: list[str], columns: int, capsys, monkeypatch) -> str:
    monkeypatch.setattr(sys, "argv", ["zoo", *args])
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code in (0, None)
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_rows_wider_than_any_table_become_blocks_instead_of_being_cut(columns):
    console = Console(width=columns, record=True, color_system=None)
    name = "cifar10-cnn-imagefolder-20261124-101500-3f2a"
    show_table(["Run", "Samples/s"], [[name, "121,634"]], right=("Samples/s",), out=console)
    text = console.export_text()
    assert name in text and "121,634" in text and "…" not in text
    assert ("Run: " in text) == (columns < len(name) + 11)


def test_info_of_an_optimizer_at_80_columns_keeps_every_name(capsys, monkeypatch):
    text = run(["info", "adam"], 80, capsys, monkeypatch)
    assert "decoupled_weight_decay" in text and "…" not in text
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[2].split() == ["Parameter", "Type", "Default", "Note"]  # still a table
    assert "tuple[float |" in text and "Tensor, float |" in text  # a long type wraps at words
    wide = run(["info", "adam"], 200, capsys, monkeypatch)
    assert "tuple[float | Tensor, float | Tensor]" in wide


def test_list_at_80_columns_is_a_table(capsys, monkeypatch):
    text = run(["list", "models"], 80, capsys, monkeypatch)
    assert "cifar10-tinycnn" in text and "Name" in text.splitlines()[0]
