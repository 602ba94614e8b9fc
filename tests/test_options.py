"""One path from given values to a request (zoo.flags): the command line, config files, a sweep's
grid and the quick predict path's words give a field the same value, checked the same way."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import zoo_here

from zoo import flags
from zoo.artifacts.config import TrainConfig
from zoo.errors import ArgumentError
from zoo.predict.options import PredictOptions
from zoo.sweep.plan import Settings
from zoo.train.config import flags_layer, parse_text

ROOT = Path(__file__).resolve().parent.parent


def test_text_and_config_values_become_the_same_field_values() -> None:
    assert parse_text("val_split", "5000") == flags.value_of(TrainConfig, "val_split", 5000) == 5000
    assert parse_text("val_split", "0.1") == flags.value_of(TrainConfig, "val_split", 0.1) == 0.1
    assert parse_text("lr", "1") == flags.value_of(TrainConfig, "lr", 1) == 1.0
    assert parse_text("drop_last", "true") is flags.value_of(TrainConfig, "drop_last", True)
    layer = flags_layer({"model_args": ["width=3"], "lr": 0.5, "epochs": None, "compile": False})
    assert layer == {"model_args": {"width": "3"}, "lr": 0.5, "compile": False}


def test_a_config_file_value_of_the_wrong_type_is_refused_where_it_is() -> None:
    with pytest.raises(
        ArgumentError, match=r"^config file x: 'epochs' must be an integer, not '5'"
    ):
        flags.given(TrainConfig, {"epochs": "5"}, "config file x")
    with pytest.raises(ArgumentError, match="'epochs' must be an integer, not True"):
        flags.given(TrainConfig, {"epochs": True}, "config file x")
    with pytest.raises(ArgumentError, match=r"\[sweep\]: 'trials' must be an integer, not '5'"):
        flags.build(Settings, {"trials": "5"}, "config file x [sweep]")
    with pytest.raises(ArgumentError, match="--trials must be at least 1, not 0"):
        flags.build(Settings, {"trials": 0})


def test_the_quick_predict_path_reads_words_as_the_command_line_does() -> None:
    values, inputs = flags.read_words(PredictOptions, ["a.png", "--top-k", "3", "--json", "b.png"])
    request = flags.build(PredictOptions, values, text=True, model="m", inputs=tuple(inputs))
    assert (request.top_k, request.json, request.inputs) == (3, True, ("a.png", "b.png"))
    assert flags.read_words(PredictOptions, ["a.png", "--top-k=2"])[0] == {"top_k": "2"}
    assert flags.read_words(PredictOptions, ["-1.5,2,0.3"]) == ({}, ["-1.5,2,0.3"])
    assert flags.read_words(PredictOptions, ["a.png", "--other"]) is None
    assert flags.read_words(PredictOptions, ["a.png", "--top-k"]) is None
    with pytest.raises(ArgumentError, match="--top-k must be at least 1"):
        flags.build(PredictOptions, {"top_k": "0"}, text=True, model="m", inputs=("a",))


def test_tta_and_precision_are_declared_once() -> None:
    """Each flag name is written in one place in the package (its declaration)."""
    counts = {"--tta": 0, "--precision": 0}
    for path in (ROOT / "zoo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in counts:
                counts[node.value] += 1
    assert counts == {"--tta": 1, "--precision": 1}


def test_a_sample_count_flag_says_which_samples_it_counts() -> None:
    """``--samples`` once meant 16 verification inputs on export and 256 test samples on bench:
    every count of samples is now named for what it counts, each declared once, and the old
    spellings are only hidden aliases."""
    names: list[str] = []
    aliases: list[str] = []
    for path in (ROOT / "zoo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "flag":
                names += [a.value for a in node.args if isinstance(a, ast.Constant)]
                aliases += [
                    e.value
                    for k in node.keywords
                    if k.arg == "aliases" and isinstance(k.value, ast.Tuple)
                    for e in k.value.elts
                    if isinstance(e, ast.Constant)
                ]
    counts = sorted(n for n in names if n.endswith("-samples"))
    assert "--samples" not in names and "--calibration" not in names
    assert {"--check-samples", "--test-samples", "--calibration-samples"} <= set(counts)
    assert len(counts) == len(set(counts)), counts  # each declared once
    assert {"--samples", "--calibration"} <= set(aliases)


def test_an_old_spelling_still_works_with_a_note() -> None:
    weights = ["mnist-mlp3", "--weights", "default"]
    quick = ["--backends", "eager", "--batch-sizes", "1", "--max-time", "0.05", "--json"]
    old = zoo_here("bench", *weights, *quick, "--samples", "6")
    assert old.returncode == 0, old.stderr
    assert json.loads(old.stdout)["samples"] == 6  # the value reached --test-samples
    assert "note: --samples is now --test-samples" in old.stderr
    both = zoo_here("export", *weights, "--samples", "4", "--check-samples", "4")
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert both.stderr.strip() == (
        "error: --check-samples and --samples are the same option: give it once"
    )
