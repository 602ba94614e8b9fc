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

from zoo.artifacts.config import TTA_MODES


class TestTimeAugmented(nn.Module):
    """``model`` on several views of its (normalised, N×C×H×W) input, outputs averaged."""

    def __init__(self, model: nn.Module, mode: str) -> None:
        super().__init__()
        if mode not in TTA_MODES or mode == "none":
            raise ValueError(f"test-time augmentation is one of {', '.join(TTA_MODES[1:])}")
        self.model, self.mode = model, mode

    def mirrored(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.model(x) + 0.5 * self.model(torch.flip(x, dims=(3,)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = self.mirrored(x)
        if self.mode == "flip":
            return outputs
        height, width = x.shape[2], x.shape[3]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        up_left = padded[:, :, :height, :width]
        down_right = padded[:, :, 2 : height + 2, 2 : width + 2]
        shifted = 0.5 * self.mirrored(up_left) + 0.5 * self.mirrored(down_right)
        return 0.5 * outputs + 0.5 * shifted


def with_tta(model: nn.Module, mode: str) -> nn.Module:
    """``model`` averaged over the views of ``mode`` (itself for ``none``), in its mode."""
    if mode == "none":
        return model
    return TestTimeAugmented(model, mode).train(model.training)
