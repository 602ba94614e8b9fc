"""``zoo runs``: the run directories under a folder, with progress and best metric (JSON only,
no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def describe_run(run_dir: Path) -> dict[str, Any]:
    """One run: what it trains, how far it got, and its best validation metric."""
    config = read_json(run_dir / "config.json")
    last = read_json(run_dir / "checkpoints" / "last.json")
    best = read_json(run_dir / "checkpoints" / "best.json")
    metrics = best.get("metrics") or {}
    name = "val_accuracy" if "val_accuracy" in metrics else "val_mae" if metrics else None
    done, epochs = last.get("epoch", 0), config.get("epochs")
    return {
        "run": run_dir.name,
        "path": str(run_dir),
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "epochs_done": done,
        "epochs": epochs,
        "finished": bool(epochs) and done >= epochs,
        "best_metric": name,
        "best_value": metrics.get(name) if name else None,
        "best_epoch": best.get("epoch"),
    }


def list_runs(folder: Path) -> list[dict[str, Any]]:
    """Every run directory (one with a config.json) directly in ``folder``, by name."""
    if not folder.is_dir():
        raise ZooError(f"no runs folder '{folder}' (runs go to runs/ or to --out DIR)")
    runs = [p for p in folder.iterdir() if (p / "config.json").is_file()]
    return [describe_run(p) for p in sorted(runs)]
