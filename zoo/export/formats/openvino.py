"""OpenVINO IR: the model converted by ``openvino.convert_model`` and written by
``openvino.save_model`` as ``.xml`` (the graph) and ``.bin`` (the weights, float32: not compressed
to float16), zoo's metadata in the graph's runtime info; verified with OpenVINO's CPU plugin in
float32. An int8 file of it comes from NNCF (:mod:`zoo.export.ov_quantise`)."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

from zoo.artifacts.manifest import IR_PROPS_KEY
from zoo.errors import first_line
from zoo.export.failures import VerificationError, captured_output
from zoo.export.formats.base import Format, WriteJob

PROPS_KEY = list(IR_PROPS_KEY)  # where the metadata sits in the IR's runtime info, as JSON


def missing() -> str | None:
    """Why an OpenVINO IR cannot be written or run here, or None."""
    if importlib.util.find_spec("openvino") is None:
        return "openvino is not installed (pip install 'torch-zoo[openvino]')"
    return None


def convert(job: WriteJob) -> Any:
    """The module as an OpenVINO model (traced on the example), batch dynamic or fixed."""
    import openvino as ov

    shape = list(job.example.shape)
    shape[0] = -1 if job.dynamic_batch else shape[0]
    with warnings.catch_warnings(), captured_output():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation, tracer notes
        return ov.convert_model(
            job.module, example_input=job.example, input=[ov.PartialShape(shape)]
        )


def save(model: Any, path: Path, props: dict[str, str]) -> None:
    """``path`` (.xml) and its .bin, float32 weights, ``props`` in the runtime info."""
    import openvino as ov

    model.set_rt_info(json.dumps(props), PROPS_KEY)
    ov.save_model(model, str(path), compress_to_fp16=False)


def write(job: WriteJob) -> list[str]:
    save(convert(job), job.path, job.props)
    return []


def stamp(path: Path, props: dict[str, str]) -> None:
    """Merge ``props`` into the metadata, rewriting the IR (its .bin is written anew beside it)."""
    from zoo.deployed import openvino_core, openvino_props

    model = openvino_core().read_model(str(path))
    merged = openvino_props(model) | props
    scratch = path.with_name(f".stamp.{path.name}")
    save(model, scratch, merged)
    del model
    for written, final in (
        (scratch, path),
        *zip(companions(scratch), companions(path), strict=True),
    ):
        written.replace(final)


def read_props(path: Path) -> dict[str, str]:
    from zoo.deployed import openvino_core, openvino_props

    return openvino_props(openvino_core().read_model(str(path)))


def runner(path: Path) -> Any:
    from zoo.export import runtimes

    try:
        run, _, _ = runtimes.openvino_runner(path, threads=0, precision="fp32")
    except Exception as exc:  # OpenVINO raises its own exception types for bad files
        raise VerificationError(f"OpenVINO cannot read the IR: {first_line(exc)}") from exc
    return run


def companions(path: Path) -> list[Path]:
    """The weights file beside the graph: ``model.xml`` -> ``model.bin``."""
    return [path.with_suffix(".bin")]


def runtime() -> str:
    import openvino

    return f"openvino {openvino.__version__}, CPU plugin, INFERENCE_PRECISION_HINT f32"


FORMAT = Format(
    name="openvino",
    title="OpenVINO IR",
    suffix=".xml",
    help="OpenVINO IR (.xml and .bin), verified in float32; only when named.",
    write=write,
    read_props=read_props,
    runner=runner,
    stamp=stamp,
    companions=companions,
    default=False,
    missing=missing,
    runtime=runtime,
)
