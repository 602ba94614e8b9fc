"""The keys of ``--json`` output that scripts rely on, pinned: reports are typed dataclasses
inside zoo, and each writes its JSON in one place (``to_json``), which must keep these keys."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import zoo_here

ENTRY = ["name", "kind", "source", "version", "target", "parameters"]
PARAMETER = {"name", "type", "default", "required", "set_by_zoo"}
MODEL_INFO = ["description", "default_dataset", "recipe", "reference", "output", "weights"]
MODEL_INFO += ["no_weights", "recipe_declared", "default_weights", "size", "weight_cards"]
DATASET_INFO = ["description", "input_shape", "classes", "mean", "std", "task", "targets"]
DATA = ["name", "description", "task", "input_shape", "mean", "std", "sizes"]


def json_of(*args: str, cwd: Path | None = None) -> object:
    result = zoo_here(*args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_info_keys() -> None:
    model = json_of("info", "mnist-mlp3")
    assert list(model) == ENTRY + MODEL_INFO
    assert set(model["parameters"][0]) == PARAMETER
    assert set(model["size"]) == {"input_shape", "num_classes", "parameters", "trainable"}
    assert model["size"]["input_shape"] == [1, 28, 28] and model["default_weights"] == "mnist-5k"
    assert {"name", "sha256", "file", "url", "note"} <= set(model["weights"][0])  # where it is
    card = model["weight_cards"][0]  # what it is: its card's facts, one description per fact
    assert {"classes", "metrics", "evaluated_on", "evaluation_tta"} <= set(card)
    assert list(json_of("info", "digits")) == ENTRY + DATASET_INFO
    assert list(json_of("info", "adam")) == [*ENTRY, "description"]


def test_data_keys(tmp_path: Path) -> None:
    digits = json_of("data", "digits", "--out", str(tmp_path))
    assert list(digits) == [*DATA, "classes", "counts", "imbalance", "files"]
    assert set(digits["counts"]) == {"train", "test"} and len(digits["counts"]["test"]) == 10
    assert all(Path(path).is_file() for path in digits["files"])
    table = json_of("data", "crop-yields", "--out", str(tmp_path))
    assert list(table) == [*DATA, "columns", "files"]
    assert set(table["columns"][0]) == {"role", "name", "min", "mean", "std", "max"}


def test_eval_keys(tmp_path: Path) -> None:
    summary = json_of("eval", "mnist-mlp3", "--weights", "default", cwd=tmp_path)
    assert list(summary) == [
        "checkpoint",
        "weights_sha256",
        "epoch",
        "dataset",
        "split",
        "tta",
        "precision",
        "items",
        "loss",
        "accuracy",
        "per_class",
        "output_dir",
    ]
    written = json.loads((tmp_path / summary["output_dir"] / "metrics.json").read_text())
    assert written == summary


def test_plugins_keys() -> None:
    entries = json_of("plugins")
    keys = ["distribution", "version", "kind", "name", "target", "status", "failed_at", "error"]
    assert entries and all(list(entry) == keys for entry in entries)
    adam = next(e for e in entries if (e["kind"], e["name"]) == ("optimizer", "adam"))
    assert adam["status"] == "ok" and adam["failed_at"] is None and adam["error"] is None
