"""The model as a client can run it with no code of its own: preprocessing in front of the graph
(uint8 pixels or raw feature rows in) and, optionally, a softmax behind it (probabilities out).

The preprocessing is the model card's (:class:`zoo.artifacts.card.Preprocessing`), the one
training and `zoo predict` apply: ``x / 255`` for images, then ``(x − mean) / std`` per channel (or feature).
Resizing and colour conversion stay outside: the file takes images of the model's input shape.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.artifacts import manifest
from zoo.artifacts.card import ModelCard


class Deployed(nn.Module):
    """``model`` behind its preprocessing (if ``embed``) and before a softmax (if ``softmax``)."""

    def __init__(
        self,
        model: nn.Module,
        mean: list[float] | None,
        std: list[float] | None,
        *,
        image: bool,
        embed: bool,
        softmax: str | None,  # None, "logits" (softmax) or "log_probs" (exp)
    ) -> None:
        super().__init__()
        self.model, self.image, self.embed, self.softmax = model, image, embed, softmax
        shape = (1, -1, 1, 1) if image else (1, -1)
        self.normalises = mean is not None and std is not None
        if self.normalises:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(shape))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed:
            x = x.to(torch.float32)
            if self.image:
                x = x / 255.0
            if self.normalises:
                x = (x - self.mean) / self.std
        y = self.model(x)
        if self.softmax == "logits":
            return torch.softmax(y, dim=1)
        if self.softmax == "log_probs":
            return torch.exp(y)
        return y


def input_kind(shape: tuple[int, ...], embed: bool) -> str:
    """What the exported graph takes: normalised input, uint8 NCHW pixels or raw feature rows."""
    if not embed:
        return manifest.NORMALISED
    return manifest.UINT8_NCHW if len(shape) == 3 else manifest.RAW_FEATURES


def wrap(model: nn.Module, card: ModelCard, *, embed: bool, softmax: bool) -> nn.Module:
    """The module to export: ``model`` itself when there is nothing to embed."""
    if not embed and not softmax:
        return model
    preprocessing = card.preprocessing
    return Deployed(
        model,
        list(preprocessing.mean) if preprocessing.mean is not None else None,
        list(preprocessing.std) if preprocessing.std is not None else None,
        image=preprocessing.image,
        embed=embed,
        softmax=card.output_kind if softmax else None,
    ).eval()
