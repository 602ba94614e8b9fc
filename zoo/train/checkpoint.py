"""Checkpoints: weights as safetensors, training state as plain tensors, both written atomically.

A run directory holds::

    checkpoints/last.safetensors   weights; metadata key "zoo" holds the JSON of last.json
    checkpoints/last.json          model, model_args, dataset, classes, input_shape, mean, std, ...
    checkpoints/last.state.pt      optimizer, scheduler, RNG states, epoch (plain tensors/dicts)
    checkpoints/best.safetensors   the best epoch's weights, and best.json

The state file is written first and the weights last, each to a temporary file then renamed, so
a present ``last.safetensors`` means a complete checkpoint. Nothing is ever unpickled: weights
come from safetensors and the state through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from zoo.errors import ZooError

META_KEY = "zoo"
FOLDER = "checkpoints"


@dataclass
class Checkpoint:
    """A saved model: its weights and the metadata needed to rebuild and feed it."""

    path: Path  # the .safetensors file
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]

    @property
    def epoch(self) -> int:
        return int(self.meta["epoch"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["input_shape"])

    @property
    def classes(self) -> list[str]:
        """Class names, or regression target names: one per model output."""
        return list(self.meta.get("classes") or [])

    def build_model(self) -> torch.nn.Module:
        """The model rebuilt from its saved name, arguments and shapes, weights loaded."""
        from zoo.describe import check_forward
        from zoo.factory import create_model

        model = create_model(
            self.meta["model"],
            num_classes=len(self.classes) or None,
            input_shape=self.input_shape,
            **(self.meta.get("model_args") or {}),
        )
        check_forward(model, self.meta["model"], self.input_shape)  # materialises lazy layers
        try:
            model.load_state_dict(self.weights)
        except RuntimeError as exc:
            raise ZooError(
                f"{self.path} does not fit model '{self.meta['model']}': {str(exc).splitlines()[0]}"
            ) from None
        return model.eval()


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def plain_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies (what safetensors stores)."""
    return {
        key: value.detach().to("cpu", copy=True).contiguous() for key, value in state_dict.items()
    }


def save_weights(
    folder: Path, name: str, state_dict: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """``folder/name.json`` (human readable), then ``folder/name.safetensors`` with the metadata."""
    text = json.dumps(meta, indent=2)
    atomic_write(folder / f"{name}.json", lambda path: Path(path).write_text(text + "\n"))
    weights = plain_weights(state_dict)
    target = folder / f"{name}.safetensors"
    atomic_write(target, lambda path: save_file(weights, path, metadata={META_KEY: text}))
    return target


def save_checkpoint(
    run_dir: Path,
    name: str,
    state_dict: dict[str, torch.Tensor],
    meta: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> Path:
    """Save ``name`` (last or best): the training state first when given, the weights last."""
    folder = run_dir / FOLDER
    if state is not None:
        atomic_write(folder / f"{name}.state.pt", lambda path: torch.save(state, path))
    return save_weights(folder, name, state_dict, meta)


def checkpoint_file(path: Path) -> Path:
    """A run directory means its best checkpoint (its last one while no best exists)."""
    if path.is_dir():
        for name in ("best", "last"):
            candidate = path / FOLDER / f"{name}.safetensors"
            if candidate.is_file():
                return candidate
        raise ZooError(f"'{path}' has no checkpoint: expected {FOLDER}/best.safetensors in it")
    if not path.is_file():
        raise ZooError(f"no such run directory or checkpoint: '{path}'")
    if path.suffix != ".safetensors":
        raise ZooError(f"'{path}' is not a .safetensors checkpoint or a run directory")
    return path


def read_meta(path: Path) -> dict[str, Any]:
    """The "zoo" metadata of a checkpoint file, without reading its weights."""
    try:
        with safe_open(str(path), "pt") as handle:
            return json.loads((handle.metadata() or {})[META_KEY])
    except KeyError:
        raise ZooError(f"'{path}' is a safetensors file but not a zoo checkpoint") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"checkpoint '{path}' is corrupt or truncated: {exc}") from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint from a run directory (its best one) or a ``.safetensors`` file."""
    file = checkpoint_file(Path(path))
    meta = read_meta(file)
    try:
        weights = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"checkpoint '{file}' is corrupt or truncated: {exc}") from None
    missing = [key for key in ("model", "input_shape", "epoch") if key not in meta]
    if missing:
        raise ZooError(f"checkpoint '{file}' lacks metadata: {', '.join(missing)}")
    return Checkpoint(file, meta, weights)


def load_state(path: Path) -> dict[str, Any]:
    """A training state file, read without unpickling code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ZooError(f"the training state {path} is missing") from None
    except Exception as exc:  # truncated or foreign files raise many kinds of errors
        raise ZooError(f"training state '{path}' is corrupt or truncated: {exc}") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise ZooError(f"'{path}' is not a zoo training state")
    return state


def resume_point(run_dir: Path) -> tuple[Checkpoint, dict[str, Any]] | None:
    """The last checkpoint and its training state, checked to belong together; None when the
    run has not finished an epoch yet."""
    weights = run_dir / FOLDER / "last.safetensors"
    if not weights.is_file():
        return None
    checkpoint = load_checkpoint(weights)
    state = load_state(run_dir / FOLDER / "last.state.pt")
    if int(state["epoch"]) != checkpoint.epoch:
        raise ZooError(
            f"the checkpoint in {run_dir / FOLDER} is inconsistent: weights are from epoch "
            f"{checkpoint.epoch}, the training state from epoch {int(state['epoch'])}"
        )
    return checkpoint, state
