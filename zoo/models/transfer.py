"""Transfer learning: a frozen ImageNet-pretrained torchvision backbone with a new linear head.

Pretrained weights come from torch hub's checkpoint cache (where torchvision keeps them); only
when the file is not there is it downloaded, and a failed download says where to put the file.
Weight files are read with safetensors or ``torch.load(..., weights_only=True)``: pickled objects
other than tensors are refused.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from zoo.errors import ZooError, first_line
from zoo.meta import Recipe, model_info

BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROBE_TIMEOUT_S = 10


class TransferClassifier(nn.Module):
    """A frozen ``backbone`` yielding feature vectors and a trainable linear ``classifier``.

    The backbone stays in eval mode even while the model trains, so its batch-norm statistics and
    dropout behave as they did in pretraining."""

    def __init__(self, backbone: nn.Module, classifier: nn.Linear) -> None:
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.backbone(x))

    def train(self, mode: bool = True) -> TransferClassifier:
        super().train(mode)
        self.backbone.eval()
        return self


def read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a ``torch.save`` file (read weights-only)."""
    if not path.is_file():
        raise ValueError(f"weights file '{path}' does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or pickled objects that weights_only refuses
        raise ValueError(f"cannot read weights file '{path}': {first_line(exc)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file '{path}' holds a {type(state).__name__}, not a state dict")
    return state


def _download(url: str, path: Path) -> None:
    """Fetch ``url`` into ``path``, checking the hash in torchvision's file name; a probe with a
    timeout first, so that being offline fails at once."""
    probe = urllib.request.Request(url, method="HEAD")
    urllib.request.urlopen(probe, timeout=PROBE_TIMEOUT_S).close()
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)
    torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match else None)


def imagenet_weights_file(backbone: str) -> Path:
    """torchvision's ImageNet weights file for ``backbone``: in torch hub's cache or downloaded."""
    url = torchvision.models.get_model_weights(backbone).DEFAULT.url
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    path = checkpoints / Path(urlparse(url).path).name
    if not path.is_file():
        try:
            _download(url, path)
        except (OSError, RuntimeError) as exc:  # offline, refused, timed out, or a bad hash
            raise ZooError(
                f"the ImageNet weights for {backbone} are not in the torch hub cache and cannot be "
                f"downloaded ({first_line(exc)}): put {path.name} (from {url}) in {checkpoints}, "
                f"or pass pretrained=false (random backbone weights) or backbone_weights=PATH "
                f"(a local .pth or .safetensors file of the {backbone} backbone)"
            ) from None
    return path


def _load_backbone_weights(network: nn.Module, path: Path, backbone: str) -> None:
    """Load a weights file into the whole torchvision network, ImageNet classifier included."""
    try:
        result = network.load_state_dict(read_weights_file(path), strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape
        lines = str(exc).strip().splitlines()
        raise ValueError(
            f"weights file '{path}' does not fit the {backbone} backbone: {lines[-1].strip()}"
        ) from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"weights file '{path}' does not fit the {backbone} backbone: "
            f"{len(result.missing_keys)} missing keys {result.missing_keys[:2]}, "
            f"{len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:2]}"
        )


def _remove_head(network: nn.Module) -> nn.Linear:
    """Replace the network's last linear layer (its ImageNet classifier) by an identity."""
    name, head = [(n, m) for n, m in network.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, attribute = name.rpartition(".")
    setattr(network.get_submodule(parent_name), attribute, nn.Identity())
    return head


@model_info(
    no_weights="its trained head would need Flowers-102 and ImageNet backbone weights, which are "
    "not available here (the backbone's ImageNet weights come from torchvision)",
    description="Transfer learning: a frozen ImageNet-pretrained torchvision backbone (resnet18 by "
    "default) with a new linear classifier head; only the head trains.",
    default_dataset="flowers102",
    recipe=Recipe(
        optimizer="adam", lr=1e-3, batch_size=32, epochs=10, mean=IMAGENET_MEAN, std=IMAGENET_STD
    ),
)
def flowers_transfer(
    num_classes: int = 102,
    in_channels: int | None = None,
    backbone: str = "resnet18",
    pretrained: bool = True,
    backbone_weights: str | None = None,
) -> TransferClassifier:
    """A frozen torchvision backbone with ImageNet weights (or ``backbone_weights``, a local file)
    and a new trainable linear head."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone '{backbone}': choose one of {', '.join(BACKBONES)}")
    if in_channels not in (None, 3):
        raise ValueError(
            f"its ImageNet backbone takes 3-channel (RGB) images, not {in_channels}-channel ones"
        )
    network = torchvision.models.get_model(backbone, weights=None)
    if backbone_weights is not None or pretrained:
        path = (
            Path(backbone_weights)
            if backbone_weights is not None
            else imagenet_weights_file(backbone)
        )
        _load_backbone_weights(network, path, backbone)
    head = _remove_head(network)
    return TransferClassifier(network, nn.Linear(head.in_features, num_classes))
