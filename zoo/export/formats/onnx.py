"""ONNX: PyTorch's dynamo exporter, graph optimised, checked by onnx.checker, zoo's metadata in
``metadata_props``; verified with ONNX Runtime (basic graph optimisation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ArgumentError, first_line
from zoo.export.failures import ExportError, VerificationError, captured_output
from zoo.export.formats.base import INPUT_NAME, OUTPUT_NAME, Format, WriteJob

# torch's dynamo exporter writes opsets from 18 (its torchlib's) to the installed onnx's newest;
# it converts lower requests down with onnxscript's version converter, as far as the ops allow
NATIVE_OPSET, OLDEST_OPSET = 18, 7


def dynamic_shapes(dynamic_batch: bool) -> tuple[dict[int, object]] | None:
    """A dynamic batch dimension for the single input, or static shapes."""
    import torch

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


def write(job: WriteJob) -> list[str]:
    import onnx
    import torch

    with captured_output():
        program = torch.onnx.export(
            job.module,
            (job.example,),
            dynamo=True,
            opset_version=job.opset,
            dynamic_shapes=dynamic_shapes(job.dynamic_batch),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            optimize=True,
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    used_opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if job.opset is not None and used_opset != job.opset:
        raise ExportError(
            f"cannot export model '{job.props['model']}' to ONNX opset {job.opset}: the exporter "
            f"fell back to opset {used_opset}, as its version converter failed on this model's "
            f"ops; {supported_opsets()}"
        )
    for key, value in (job.props | {"opset": str(used_opset)}).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(job.path))
    return []


def stamp(path: Path, props: dict[str, str]) -> None:
    """Set ``props`` in an ONNX file's metadata_props, replacing keys it has (facts measured after
    the file was written, or a file that ONNX Runtime's tools rewrote)."""
    import onnx

    proto = onnx.load(str(path))
    merged = {p.key: p.value for p in proto.metadata_props} | props
    del proto.metadata_props[:]
    for key, value in merged.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def read_props(path: Path) -> dict[str, str]:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def runner(path: Path) -> Any:
    from zoo.export import runtimes

    try:
        return runtimes.onnx_runner(runtimes.onnx_session(path, optimisation="basic"))
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise VerificationError(
            f"ONNX Runtime cannot load the exported file: {first_line(exc)}"
        ) from exc


def runtime() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}, CPUExecutionProvider, basic graph optimisation"


FORMAT = Format(
    name="onnx",
    title="ONNX",
    suffix=".onnx",
    help="ONNX (torch.onnx.export with dynamo=True, checked by onnx.checker).",
    write=write,
    read_props=read_props,
    runner=runner,
    stamp=stamp,
    runtime=runtime,
)
