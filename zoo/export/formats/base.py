"""What an export format is (:class:`Format`), apart from the registry that lists them.

No torch at import: ``zoo --help`` reads the registry to make ``zoo export``'s flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WriteJob:
    """What a writer writes: ``module`` traced on ``example`` into exactly ``path`` (a temporary
    name; the pipeline moves it into place once verified), carrying ``props``."""

    module: Any  # torch.nn.Module
    example: Any  # torch.Tensor
    path: Path
    props: dict[str, str]
    opset: int | None
    dynamic_batch: bool


@dataclass(frozen=True)
class Format:
    """One export format."""

    name: str  # "onnx", also its flag (--onnx) and its key in manifests
    title: str  # "ONNX"
    suffix: str  # ".onnx"
    help: str  # the flag's help
    write: Callable[[WriteJob], list[str]]  # notes worth telling the user
    read_props: Callable[[Path], dict[str, str]]
    runner: Callable[[Path], Callable[[Any], Any]]  # the written file on numpy batches
    stamp: Callable[[Path, dict[str, str]], None] | None = None  # metadata set after verifying
    companions: Callable[[Path], list[Path]] = lambda path: []  # files beside it (.bin weights)
    default: bool = True  # written when no format is named (an optional runtime's is not)
    missing: Callable[[], str | None] = lambda: None  # why it cannot be written here
    runtime: Callable[[], str] = lambda: torch_cpu()  # what its verification runs on, versioned

    def file_name(self, stem: str, precision: str = "fp32") -> str:
        """``cifar10-cnn.onnx``, ``cifar10-cnn.int8.onnx``."""
        return f"{stem}{self.suffix}" if precision == "fp32" else f"{stem}.{precision}{self.suffix}"


INPUT_NAME, OUTPUT_NAME = "input", "output"


def torch_cpu() -> str:
    """What a file PyTorch runs is verified on (TorchScript, ExportedProgram)."""
    import torch

    return f"torch {torch.__version__}, CPU"
