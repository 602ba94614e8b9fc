"""TorchScript: ``torch.jit.trace``, zoo's metadata as an extra file. Deprecated by PyTorch (its
deprecation warning becomes one note); for older runtimes."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

from zoo.artifacts.manifest import EXTRA_FILE
from zoo.export.failures import captured_output
from zoo.export.formats.base import Format, WriteJob

NOTE = (
    "TorchScript is deprecated in PyTorch (torch.jit.trace warns so); "
    "prefer the .pt2 ExportedProgram, its successor"
)


def write(job: WriteJob) -> list[str]:
    """Tracer warnings become notes too."""
    import torch

    from zoo.export import runtimes

    notes = [NOTE]
    with warnings.catch_warnings(record=True) as caught, captured_output():
        warnings.simplefilter("always")
        traced = torch.jit.trace(job.module, job.example, check_trace=False)
    for warning in caught:
        message = str(warning.message).strip().splitlines()[0]
        if issubclass(warning.category, FutureWarning) and re.search(
            runtimes.JIT_DEPRECATION, message
        ):
            continue
        if issubclass(warning.category, torch.jit.TracerWarning) and message not in notes:
            notes.append(f"tracer: {message}")
    with runtimes.quiet_jit_deprecation():
        torch.jit.save(traced, str(job.path), _extra_files={EXTRA_FILE: json.dumps(job.props)})
    return notes


def read_props(path: Path) -> dict[str, str]:
    import torch

    from zoo.export import runtimes

    extra = {EXTRA_FILE: ""}
    with runtimes.quiet_jit_deprecation():
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[EXTRA_FILE])


def runner(path: Path) -> Any:
    from zoo.export import runtimes

    return runtimes.torch_runner(runtimes.load_torchscript(path))


FORMAT = Format(
    name="torchscript",
    title="TorchScript",
    suffix=".torchscript.pt",
    help="TorchScript (torch.jit.trace; deprecated by PyTorch: prefer --exported-program.",
    write=write,
    read_props=read_props,
    runner=runner,
)
