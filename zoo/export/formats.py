"""Writers for ONNX, TorchScript and ExportedProgram files, each carrying zoo's metadata.

Each writer writes exactly the path it is given (the caller picks a temporary name and moves the
file into place once it is verified) with the metadata key/values it is given
(:func:`zoo.export.metadata.to_props`), and returns notes worth telling the user.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ArgumentError
from zoo.export.failures import ExportError, captured_output, explain
from zoo.export.metadata import EXTRA_FILE, FileMetadata, from_props
from zoo.export.runtimes import JIT_DEPRECATION, quiet_jit_deprecation

FORMATS = ("onnx", "torchscript", "exported-program")
TITLES = {"onnx": "ONNX", "torchscript": "TorchScript", "exported-program": "ExportedProgram"}
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported-program": ".pt2"}
INPUT_NAME, OUTPUT_NAME = "input", "output"
# torch's dynamo exporter writes opsets from 18 (its torchlib's) to the installed onnx's newest;
# it converts lower requests down with onnxscript's version converter, as far as the ops allow
NATIVE_OPSET, OLDEST_OPSET = 18, 7
TORCHSCRIPT_NOTE = (
    "TorchScript is deprecated in PyTorch (torch.jit.trace warns so); "
    "prefer the .pt2 ExportedProgram, its successor"
)


def dynamic_shapes(dynamic_batch: bool) -> tuple[dict[int, Any]] | None:
    """A dynamic batch dimension for the single input, or static shapes."""
    return ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None


def newest_opset() -> int:
    import onnx

    return onnx.defs.onnx_opset_version()


def supported_opsets() -> str:
    return (
        f"the ONNX exporter writes opsets {NATIVE_OPSET} to {newest_opset()} "
        f"(and {OLDEST_OPSET} to {NATIVE_OPSET - 1} by conversion, where every op of the model "
        "converts)"
    )


def check_opset(opset: int | None) -> None:
    """Refuse, before any work, an opset no exporter here can write."""
    if opset is not None and not OLDEST_OPSET <= opset <= newest_opset():
        raise ArgumentError(f"--opset {opset} is not supported: {supported_opsets()}")


def write_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    props: dict[str, str],
    *,
    opset: int | None,
    dynamic_batch: bool,
) -> list[str]:
    """PyTorch's dynamo ONNX exporter, graph optimised, metadata in ``metadata_props``, checked."""
    import onnx

    with captured_output():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            opset_version=opset,
            dynamic_shapes=dynamic_shapes(dynamic_batch),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            optimize=True,
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    used_opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if opset is not None and used_opset != opset:
        raise ExportError(
            f"cannot export model '{props['model']}' to ONNX opset {opset}: the exporter fell back "
            f"to opset {used_opset}, as its version converter failed on this model's ops; "
            f"{supported_opsets()}"
        )
    for key, value in (props | {"opset": str(used_opset)}).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return []


def write_torchscript(
    model: torch.nn.Module, example: torch.Tensor, path: Path, props: dict[str, str], **_: Any
) -> list[str]:
    """``torch.jit.trace``; its deprecation warning becomes one note, tracer warnings notes too."""
    notes = [TORCHSCRIPT_NOTE]
    with warnings.catch_warnings(record=True) as caught, captured_output():
        warnings.simplefilter("always")
        traced = torch.jit.trace(model, example, check_trace=False)
    for warning in caught:
        message = str(warning.message).strip().splitlines()[0]
        if issubclass(warning.category, FutureWarning) and re.search(JIT_DEPRECATION, message):
            continue
        if issubclass(warning.category, torch.jit.TracerWarning) and message not in notes:
            notes.append(f"tracer: {message}")
    with quiet_jit_deprecation():
        torch.jit.save(traced, str(path), _extra_files={EXTRA_FILE: json.dumps(props)})
    return notes


def write_exported_program(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    props: dict[str, str],
    *,
    dynamic_batch: bool,
    **_: Any,
) -> list[str]:
    """``torch.export.export`` saved as ``.pt2`` with the metadata as an extra file."""
    with captured_output():
        program = torch.export.export(
            model, (example,), dynamic_shapes=dynamic_shapes(dynamic_batch)
        )
    torch.export.save(program, str(path), extra_files={EXTRA_FILE: json.dumps(props)})
    return []


WRITERS: dict[str, Callable[..., list[str]]] = {
    "onnx": write_onnx,
    "torchscript": write_torchscript,
    "exported-program": write_exported_program,
}


def write(
    fmt: str,
    model: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    props: dict[str, str],
    *,
    opset: int | None,
    dynamic_batch: bool,
) -> list[str]:
    """Write one format; an exporter failure becomes an ExportError naming the op and the format."""
    try:
        with torch.no_grad():
            return WRITERS[fmt](
                model, example, path, props, opset=opset, dynamic_batch=dynamic_batch
            )
    except ExportError:
        raise
    except Exception as exc:
        raise explain(exc, props["model"], TITLES[fmt]) from exc


def stamp_onnx(path: Path, props: dict[str, str]) -> None:
    """Set ``props`` in an ONNX file's metadata_props, replacing keys it has (facts measured after
    the file was written, or a file that ONNX Runtime's tools rewrote)."""
    import onnx

    proto = onnx.load(str(path))
    merged = {p.key: p.value for p in proto.metadata_props} | props
    del proto.metadata_props[:]
    for key, value in merged.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def read_props(fmt: str, path: Path) -> dict[str, str]:
    """The metadata key/values stored in an exported file."""
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}
    extra = {EXTRA_FILE: ""}
    if fmt == "torchscript":
        with quiet_jit_deprecation():
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    else:
        torch.export.load(str(path), extra_files=extra)
    return json.loads(extra[EXTRA_FILE])


def read_metadata(fmt: str, path: Path) -> FileMetadata:
    """The card, export facts and file facts stored in an exported file."""
    return from_props(read_props(fmt, path), str(path))
