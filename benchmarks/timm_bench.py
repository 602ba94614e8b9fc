"""`zoo bench` of timm architectures (issue 17: float32 parity must hold for them on every CPU).

timm is not one of zoo's dependencies; install it beside zoo, then register its models in-process
and run zoo's console entry point on one:

    .venv/bin/pip install --no-deps --target /tmp/timm-site timm
    PYTHONPATH=/tmp/timm-site .venv/bin/python benchmarks/timm_bench.py timm-resnet18
    PYTHONPATH=/tmp/timm-site .venv/bin/python benchmarks/timm_bench.py timm-convnext-atto

Fresh weights, CIFAR-10-shaped input (3×32×32, 10 classes), random inputs for parity.
"""

from __future__ import annotations

import sys

import timm
from torch import nn

import zoo
from zoo.launch import main

ARCHITECTURES = {"timm-resnet18": "resnet18", "timm-convnext-atto": "convnext_atto"}


def register(name: str, architecture: str) -> None:
    def build(num_classes: int = 10, in_channels: int = 3, **_: object) -> nn.Module:
        return timm.create_model(architecture, num_classes=num_classes, in_chans=in_channels)

    zoo.register_model(name, default_dataset="cifar10")(build)


if __name__ == "__main__":
    for name, architecture in ARCHITECTURES.items():
        register(name, architecture)
    model = sys.argv[1] if len(sys.argv) > 1 else "timm-resnet18"
    sys.argv = ["zoo", "bench", model, "--input-shape", "3,32,32", "--num-classes", "10"]
    sys.argv += ["--batch-sizes", "1,32", "--test-samples", "64", "--max-time", "5"]
    main()
