"""int8 and float16 ONNX files derived from a verified float32 ONNX file, with ONNX Runtime's and
onnxconverter-common's own tools.

int8: ONNX Runtime's static quantisation (``quant_pre_process`` then ``quantize_static``: QDQ
format, int8 weights per output channel, uint8 activations whose ranges are measured on
calibration inputs) for models with convolutions; dynamic quantisation (``quantize_dynamic``,
activation ranges computed at run time, no calibration) for models made only of Linear layers,
where it loses less accuracy and needs no data. float16: ``convert_float_to_float16`` with
``keep_io_types``, so the file still takes and returns float32 (and ONNX Runtime inserts casts
around the operators it has no float16 kernel for on the CPU).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from torch import nn

from zoo.export.failures import ExportError, captured_output

STATIC, DYNAMIC = "static", "dynamic"
CALIBRATION_CHUNK = 32
# layers whose weights dynamic quantisation handles; anything else with weights means static
LINEAR_ONLY_PARAMETRISED = (nn.Linear,)


def method_for(model: nn.Module) -> str:
    """``dynamic`` for a model whose only layers with weights are Linear ones, else ``static``."""
    weighted = [
        module
        for module in model.modules()
        if any(True for _ in module.parameters(recurse=False))
        or any(True for _ in module.buffers(recurse=False))
    ]
    if weighted and all(isinstance(m, LINEAR_ONLY_PARAMETRISED) for m in weighted):
        return DYNAMIC
    return STATIC


def calibration_reader(name: str, inputs: np.ndarray, fixed_batch: int | None) -> object:
    """ONNX Runtime's CalibrationDataReader over ``inputs``, a chunk at a time (whole fixed
    batches for a fixed-batch file, repeating inputs if there are fewer than one batch)."""
    from onnxruntime.quantization import CalibrationDataReader

    chunk = fixed_batch or CALIBRATION_CHUNK
    if fixed_batch:
        count = max(fixed_batch, len(inputs) // fixed_batch * fixed_batch)
        inputs = np.resize(inputs, (count, *inputs.shape[1:]))
    batches = [{name: inputs[start : start + chunk]} for start in range(0, len(inputs), chunk)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    return Reader()


def int8(
    fp32: Path,
    out: Path,
    method: str,
    calibration: np.ndarray | None,
    *,
    input_name: str,
    fixed_batch: int | None,
    per_channel: bool = True,
) -> None:
    """Write ``out``: ``fp32`` quantised statically (calibrated on ``calibration``; weights per
    channel or per tensor) or dynamically."""
    from onnxruntime.quantization import (
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_dynamic,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="zoo-quantise-") as scratch, captured_output() as log:
        prepared = Path(scratch) / "prepared.onnx"
        try:
            quant_pre_process(str(fp32), str(prepared))
            if method == DYNAMIC:
                quantize_dynamic(
                    str(prepared), str(out), per_channel=True, weight_type=QuantType.QInt8
                )
                return
            if calibration is None or not len(calibration):
                raise ExportError("static int8 quantisation needs calibration inputs")
            quantize_static(
                str(prepared),
                str(out),
                calibration_reader(input_name, calibration, fixed_batch),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        except ExportError:
            raise
        except Exception as exc:
            last = (log.getvalue().strip().splitlines() or [""])[-1]
            raise ExportError(
                f"ONNX Runtime could not quantise {fp32.name} ({method}): "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                f"{f'; {last}' if last else ''}"
            ) from exc


def float16(fp32: Path, out: Path) -> None:
    """Write ``out``: ``fp32`` with float16 weights and activations, float32 input and output."""
    import onnx
    from onnxconverter_common import float16 as converter

    model = onnx.load(str(fp32))
    # Casts stay as they are (the converter would retype a Cast-to-float32's output, not its
    # target, e.g. the uint8 -> float32 Cast of embedded preprocessing); it casts after them
    casts = [node.name for node in model.graph.node if node.op_type == "Cast"]
    try:
        with warnings.catch_warnings():  # "the float32 number 2e-08 will be truncated to 1e-07"
            warnings.simplefilter("ignore", UserWarning)
            converted = converter.convert_float_to_float16(
                model, keep_io_types=True, node_block_list=casts
            )
        onnx.save(converted, str(out))
    except Exception as exc:
        raise ExportError(
            f"onnxconverter-common could not convert {fp32.name} to float16: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
        ) from exc
