"""TorchScript and ExportedProgram files, loaded with torch (which may run code in them: bench
only exports you trust)."""

from __future__ import annotations

from zoo.export.backends.base import Backend, Opened, Opening
from zoo.export.backends.eager import open_module


def open_torchscript(opening: Opening) -> Opened:
    from zoo.export import runtimes

    assert opening.file is not None
    return open_module(runtimes.load_torchscript(opening.file, opening.device), opening)


def open_exported_program(opening: Opening) -> Opened:
    from zoo.export import runtimes

    assert opening.file is not None
    return open_module(runtimes.load_exported_program(opening.file, opening.device), opening)


TORCHSCRIPT = Backend(
    "torchscript", ("torchscript", "fp32"), "fp32", ("cpu", "cuda"), open_torchscript
)
EXPORTED_PROGRAM = Backend(
    "exported-program",
    ("exported-program", "fp32"),
    "fp32",
    ("cpu", "cuda"),
    open_exported_program,
)
