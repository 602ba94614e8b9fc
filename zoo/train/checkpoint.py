"""Checkpoints: weights as safetensors, training state as plain tensors, both written atomically.

A run directory holds::

    checkpoints/last.safetensors   weights; metadata key "zoo" holds the JSON of last.json
    checkpoints/last.json          model, model_args, dataset, classes, input_shape, mean, std, ...
    checkpoints/last.state.pt      optimizer, scheduler, RNG states, epoch (plain tensors/dicts)
    checkpoints/best.safetensors   the best epoch's weights, and best.json

Every file is written to a temporary file, flushed to disk, then renamed. The training state
goes first, to ``last.next.state.pt``; then the weights, whose rename commits the checkpoint;
then the state is renamed to ``last.state.pt``. A process killed at any point leaves the last
complete checkpoint: weights and a state file of the same epoch (``resume_point`` looks in both
state files). Nothing is ever unpickled: weights come from safetensors and the state through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
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
FAULT_ENV = "ZOO_TEST_FAULT"  # a test hook: see injected_fault
WRITES: dict[str, int] = {}  # atomic writes so far by file name, for injected_fault


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
        injected_fault(path, temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def injected_fault(path: Path, temporary: str) -> None:
    """A test hook, for the crash-safety tests only: ``ZOO_TEST_FAULT=ACTION:NAME:N`` acts
    inside the N-th write of a file called NAME in this process, once its bytes are written but
    before they are flushed and renamed. ``die`` cuts the file to half its size and SIGKILLs the
    process (a writer killed mid-write); ``pause=SECONDS`` sleeps (a slow disk)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    action, name, count = spec.split(":")
    if path.name != name:
        return
    seen = WRITES[name] = WRITES.get(name, 0) + 1
    if seen != int(count):
        return
    if action == "die":
        os.truncate(temporary, os.path.getsize(temporary) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    elif action.startswith("pause="):
        time.sleep(float(action.removeprefix("pause=")))


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
    """Save ``name`` (last or best): the training state first when given, as the pending
    ``name.next.state.pt``; the weights, which commit it; then the state under its own name."""
    folder = run_dir / FOLDER
    pending = folder / f"{name}.next.state.pt"
    if state is not None:
        atomic_write(pending, lambda path: torch.save(state, path))
    target = save_weights(folder, name, state_dict, meta)
    if state is not None:
        os.replace(pending, folder / f"{name}.state.pt")
    return target


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
    run has not finished an epoch yet. The state is the committed one, or the pending one when
    a save was cut off between renaming the weights and renaming the state."""
    folder = run_dir / FOLDER
    weights = folder / "last.safetensors"
    if not weights.is_file():
        return None
    checkpoint = load_checkpoint(weights)
    committed, pending = folder / "last.state.pt", folder / "last.next.state.pt"
    epochs = []
    for path in (committed, pending) if pending.is_file() else (committed,):
        state = load_state(path)
        if int(state["epoch"]) == checkpoint.epoch:
            return checkpoint, state
        epochs.append(str(int(state["epoch"])))
    raise ZooError(
        f"the checkpoint in {folder} is inconsistent: weights are from epoch "
        f"{checkpoint.epoch}, the training state from epoch {' or '.join(epochs)}"
    )
