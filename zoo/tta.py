"""Test-time augmentation: the model's outputs averaged over flipped and translated views of each
input, as one module, so that ``zoo eval`` measures and ``zoo export`` writes the same thing (the
exported graph averages the views itself; ``zoo predict`` needs nothing more).

``flip``: the input and its mirror image, equally. ``flip-translate``: airbench94's level 2, half
the flip average of the input, a quarter each of the flip averages of the input translated one
pixel up-left and down-right (reflect padding): six views in all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.artifacts.card import TTA_MODES

# each view's share: the input, then its translations, then their mirror images, in that order
VIEW_WEIGHTS = {
    "flip": torch.tensor([0.5, 0.5]),
    "flip-translate": torch.tensor([0.25, 0.125, 0.125, 0.25, 0.125, 0.125]),
}


class TestTimeAugmented(nn.Module):
    """``model`` on several views of its (normalised, N×C×H×W) input, outputs averaged."""

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__()
        if mode not in TTA_MODES or mode == "none":
            raise ValueError(f"test-time augmentation is one of {', '.join(TTA_MODES[1:])}")
        self.model, self.mode = model, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # every view in one batch through the model: one call, so an exported graph holds the
        # model once (its weights once, as int8 quantisation needs) and batches compute faster
        views = [x]
        if self.mode == "flip-translate":
            height, width = x.shape[2], x.shape[3]
            padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
            views += [padded[:, :, :height, :width], padded[:, :, 2 : height + 2, 2 : width + 2]]
        views += [torch.flip(view, dims=(3,)) for view in views]
        outputs = self.model(torch.cat(views)).unflatten(0, (len(views), -1))
        weights = VIEW_WEIGHTS[self.mode].to(outputs)
        return (outputs * weights.view(-1, *[1] * (outputs.dim() - 1))).sum(0)


def with_tta(model: nn.Module, mode: str) -> nn.Module:
    """``model`` averaged over the views of ``mode`` (itself for ``none``), in its mode."""
    if mode == "none":
        return model
    return TestTimeAugmented(model, mode).train(model.training)
