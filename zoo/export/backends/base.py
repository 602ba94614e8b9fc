"""What a bench backend is (:class:`Backend`), apart from the registry that lists them.

No torch at import: ``zoo --help`` reads the registry to list ``zoo bench``'s backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.artifacts.manifest import NORMALISED, FileFacts

Runner = Callable[[Any], Any]  # a numpy batch -> numpy outputs
CallMaker = Callable[[Any], Callable[[], Any]]  # a numpy batch -> the call that is timed


@dataclass(frozen=True)
class Opening:
    """What a backend is opened on: the eager model (for eager rows), the file it runs and that
    file's facts, the device, the threads every runtime gets alike."""

    model: Any  # torch.nn.Module
    file: Path | None
    facts: FileFacts
    device: str
    threads: int


@dataclass
class Opened:
    """An opened backend: a numpy runner for parity (the file as verified), a maker of timed
    calls (the runtime's fastest settings) and, where it differs, a runner at those settings;
    its effective precision settings as read back from the runtime."""

    parity: Runner
    timed: CallMaker
    settings: Callable[[], dict[str, str]] = field(default=lambda: {})
    served: Runner | None = None  # outputs at the timed settings, where they differ from parity's

    @property
    def outputs(self) -> Runner:
        """What the timed calls compute, as a runner: what a deployment gets."""
        return self.served or self.parity


@dataclass(frozen=True)
class Backend:
    """One way to run the model: which file it runs, in what precision, where, and how."""

    name: str  # "onnxruntime-int8"; also how --backends names it
    runs: tuple[str, str] | None  # (format, file precision) it runs; None: the eager model
    precision: str  # what it computes in: fp32, fp16, int8, bf16 (zoo.export.precisions)
    devices: tuple[str, ...]
    open: Callable[[Opening], Opened]
    missing: Callable[[str], str | None] = lambda device: None  # why it cannot run on a device

    def takes_raw(self, facts: FileFacts) -> bool:
        """Whether its file takes raw inputs (embedded preprocessing)."""
        return self.runs is not None and facts.input != NORMALISED
