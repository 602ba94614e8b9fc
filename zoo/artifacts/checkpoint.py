"""Checkpoints: weights as safetensors, training state as plain tensors, both written atomically.

A run directory holds::

    checkpoints/last.safetensors   weights; metadata key "zoo" holds the model card (last.json)
    checkpoints/last.json          the model card (:class:`zoo.artifacts.card.ModelCard`) as JSON
    checkpoints/last.state.pt      optimizer, scheduler, RNG states, epoch (plain tensors/dicts)
    checkpoints/best.safetensors   the weights of the epoch best on held-out validation data, and
                                   best.json (only for runs that hold items out of the train split)

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from zoo.artifacts.card import ModelCard
from zoo.errors import ZooError, first_line
from zoo.files import TEMPORARY_SUFFIX, atomic_write, sha256_file, write_text

if TYPE_CHECKING:
    import torch

META_KEY = "zoo"
FOLDER = "checkpoints"


@dataclass
class Checkpoint:
    """A saved model: its weights and the card that says how to rebuild and feed it."""

    path: Path  # the .safetensors file
    card: ModelCard
    weights: dict[str, torch.Tensor]

    @property
    def epoch(self) -> int:
        return int(self.card.epoch or 0)


def plain_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies (what safetensors stores)."""
    return {
        key: value.detach().to("cpu", copy=True).contiguous() for key, value in state_dict.items()
    }


def save_weights(path: Path, state_dict: dict[str, torch.Tensor], card: ModelCard) -> Path:
    """``path`` (.safetensors) with the card in its metadata, and the card beside it as JSON."""
    data = card.with_(weights_sha256="").to_json()  # a file cannot hold its own hash
    text = json.dumps(data, indent=2)
    write_text(path.with_suffix(".json"), text + "\n")
    from safetensors.torch import save_file

    weights = plain_weights(state_dict)
    return atomic_write(path, lambda temporary: save_file(weights, temporary, {META_KEY: text}))


def save_checkpoint(
    run_dir: Path,
    name: str,
    state_dict: dict[str, torch.Tensor],
    card: ModelCard,
    state: dict[str, Any] | None = None,
) -> Path:
    """Save ``name`` (last or best): the training state first when given, as the pending
    ``name.next.state.pt``; the weights, which commit it; then the state under its own name."""
    import torch

    folder = run_dir / FOLDER
    pending = folder / f"{name}.next.state.pt"
    if state is not None:
        atomic_write(pending, lambda path: torch.save(state, path))
    target = save_weights(folder / f"{name}.safetensors", state_dict, card)
    if state is not None:
        os.replace(pending, folder / f"{name}.state.pt")
    return target


def checkpoint_file(path: Path) -> Path:
    """A run directory means the weights it keeps: its best checkpoint (held-out validation),
    else its last."""
    if path.is_dir():
        for name in ("best", "last"):
            candidate = path / FOLDER / f"{name}.safetensors"
            if candidate.is_file():
                return candidate
        if (path / "config.json").is_file():
            raise ZooError(
                f"run '{path}' has no kept weights (no {FOLDER}/last.safetensors: it stopped "
                f"before its first epoch ended); finish it with 'zoo train --resume {path}'"
            )
        raise ZooError(f"'{path}' has no checkpoint: expected {FOLDER}/last.safetensors in it")
    if not path.is_file():
        raise ZooError(f"no such run directory or checkpoint: '{path}'")
    if path.suffix != ".safetensors":
        raise ZooError(f"'{path}' is not a .safetensors checkpoint or a run directory")
    return path


def read_card(path: Path) -> ModelCard:
    """The card of a zoo weights file, without reading its tensors (nothing is unpickled)."""
    try:
        with safe_open(str(path), "np") as handle:
            text = (handle.metadata() or {})[META_KEY]
        data = json.loads(text)
    except KeyError:
        raise ZooError(f"'{path}' is a safetensors file but not a zoo checkpoint") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"checkpoint '{path}' is corrupt or truncated: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ZooError(f"'{path}' is a safetensors file but not a zoo checkpoint")
    return ModelCard.from_json(data, f"the metadata of '{path}'")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (nothing is unpickled); a damaged file is one line."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(
            f"weights file '{path}' is corrupt or truncated: {first_line(exc)}"
        ) from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint from a run directory (its best one) or a ``.safetensors`` file."""
    file = checkpoint_file(Path(path))
    card = read_card(file)
    weights = read_weights(file)
    return Checkpoint(file, card.with_(weights_sha256=sha256_file(file)), weights)


def load_state(path: Path) -> dict[str, Any]:
    """A training state file, read without unpickling code (an arbitrary pickled object is
    refused by ``weights_only=True``)."""
    import torch

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
    for stale in folder.glob(f".*{TEMPORARY_SUFFIX}"):  # left by a writer killed mid-save
        stale.unlink(missing_ok=True)
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
