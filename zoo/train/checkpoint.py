"""Checkpoints: weights as safetensors, training state as plain tensors, both written atomically.

A run directory holds::

    checkpoints/last.safetensors   weights; metadata key "zoo" holds the model card (last.json)
    checkpoints/last.json          the model card (:class:`zoo.card.ModelCard`) as JSON
    checkpoints/last.state.pt      optimizer, scheduler, RNG states, epoch (plain tensors/dicts)
    checkpoints/best.safetensors   the weights of the epoch best on held-out validation data, and
                                   best.json (only for runs that hold items out of the train split)

The state file is written first and the weights last, each to a temporary file then renamed, so
a present ``last.safetensors`` means a complete checkpoint. Nothing is ever unpickled: weights
come from safetensors and the state through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from zoo.card import ModelCard
from zoo.errors import ZooError, first_line
from zoo.files import atomic_write, sha256_file, write_text

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

    def build_model(self) -> torch.nn.Module:
        """The model rebuilt from its card, weights loaded, in eval mode."""
        return build_model(self.card, self.weights, str(self.path))


def build_model(card: ModelCard, weights: dict[str, torch.Tensor], where: str) -> torch.nn.Module:
    """Build ``card``'s model for its input shape and outputs, then load ``weights`` into it."""
    from zoo.factory import create_model, probe

    model = create_model(
        card.model,
        num_classes=len(card.classes) or None,
        input_shape=card.input_shape,
        **dict(card.model_args),
    )
    probe(model, card.model, card.input_shape)  # materialises lazy layers
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:  # the first line is a header; the next ones name the tensors
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines[1:] if line), first_line(exc))
        raise ZooError(f"{where} does not fit model '{card.model}': {detail}") from None
    return model.eval()


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
    weights = plain_weights(state_dict)
    return atomic_write(path, lambda temporary: save_file(weights, temporary, {META_KEY: text}))


def save_checkpoint(
    run_dir: Path,
    name: str,
    state_dict: dict[str, torch.Tensor],
    card: ModelCard,
    state: dict[str, Any] | None = None,
) -> Path:
    """Save ``name`` (last or best): the training state first when given, the weights last."""
    folder = run_dir / FOLDER
    if state is not None:
        atomic_write(folder / f"{name}.state.pt", lambda path: torch.save(state, path))
    return save_weights(folder / f"{name}.safetensors", state_dict, card)


def checkpoint_file(path: Path) -> Path:
    """A run directory means its best checkpoint (its last one while no best exists)."""
    if path.is_dir():
        for name in ("best", "last"):
            candidate = path / FOLDER / f"{name}.safetensors"
            if candidate.is_file():
                return candidate
        raise ZooError(f"'{path}' has no checkpoint: expected {FOLDER}/last.safetensors in it")
    if not path.is_file():
        raise ZooError(f"no such run directory or checkpoint: '{path}'")
    if path.suffix != ".safetensors":
        raise ZooError(f"'{path}' is not a .safetensors checkpoint or a run directory")
    return path


def read_card(path: Path) -> ModelCard:
    """The card of a zoo weights file, without reading its tensors (nothing is unpickled)."""
    try:
        with safe_open(str(path), "pt") as handle:
            text = (handle.metadata() or {})[META_KEY]
        data = json.loads(text)
    except KeyError:
        raise ZooError(f"'{path}' is a safetensors file but not a zoo checkpoint") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"checkpoint '{path}' is corrupt or truncated: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ZooError(f"'{path}' is a safetensors file but not a zoo checkpoint")
    return ModelCard.from_json(data, f"the metadata of '{path}'")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint from a run directory (its best one) or a ``.safetensors`` file."""
    file = checkpoint_file(Path(path))
    card = read_card(file)
    try:
        weights = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"checkpoint '{file}' is corrupt or truncated: {first_line(exc)}") from None
    return Checkpoint(file, card.with_(weights_sha256=sha256_file(file)), weights)


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
