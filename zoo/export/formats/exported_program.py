"""ExportedProgram: ``torch.export.export`` saved as ``.pt2``, zoo's metadata as an extra file;
TorchScript's successor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.artifacts.manifest import EXTRA_FILE
from zoo.export.failures import captured_output
from zoo.export.formats.base import Format, WriteJob
from zoo.export.formats.onnx import dynamic_shapes


def write(job: WriteJob) -> list[str]:
    import torch

    with captured_output():
        program = torch.export.export(
            job.module, (job.example,), dynamic_shapes=dynamic_shapes(job.dynamic_batch)
        )
    torch.export.save(program, str(job.path), extra_files={EXTRA_FILE: json.dumps(job.props)})
    return []


def read_props(path: Path) -> dict[str, str]:
    import torch

    extra = {EXTRA_FILE: ""}
    torch.export.load(str(path), extra_files=extra)
    return json.loads(extra[EXTRA_FILE])


def runner(path: Path) -> Any:
    from zoo.export import runtimes

    return runtimes.torch_runner(runtimes.load_exported_program(path))


FORMAT = Format(
    name="exported-program",
    title="ExportedProgram",
    suffix=".pt2",
    help="torch.export ExportedProgram (.pt2), TorchScript's successor.",
    write=write,
    read_props=read_props,
    runner=runner,
)
