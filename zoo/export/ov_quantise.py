"""An int8 OpenVINO IR derived from a verified float32 IR by NNCF's post-training quantisation:
``nncf.quantize`` on calibration inputs, or, given labelled validation inputs and an allowed drop,
``nncf.quantize_with_accuracy_control``, which keeps in float the layers whose quantisation costs
the most top-1 until the drop on those inputs is within ``max_drop``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from zoo.artifacts.manifest import NNCF
from zoo.errors import first_line
from zoo.export.failures import ExportError, captured_output

CHUNK = 1  # NNCF's statistics are per item; validation runs item by item as deployment does


def batches(inputs: np.ndarray, fixed_batch: int | None) -> list[np.ndarray]:
    """The inputs as the IR takes them: whole fixed batches, else one at a time."""
    size = fixed_batch or CHUNK
    if fixed_batch:
        count = max(fixed_batch, len(inputs) // fixed_batch * fixed_batch)
        inputs = np.resize(inputs, (count, *inputs.shape[1:]))
    return [inputs[start : start + size] for start in range(0, len(inputs), size)]


def top1_of(compiled: Any, items: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """NNCF's validation function: top-1 of a compiled model on (batch, labels) pairs."""
    hits = total = 0
    for batch, labels in items:
        outputs = np.asarray(compiled(batch)[0]).reshape(len(batch), -1)
        hits += int((outputs.argmax(1) == labels).sum())
        total += len(labels)
    return hits / max(1, total)


def int8(
    ir: Path,
    out: Path,
    calibration: np.ndarray | None,
    fixed_batch: int | None,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    max_drop: float | None = None,
) -> str:
    """Write ``out`` (.xml and .bin): ``ir`` quantised to int8 by NNCF, calibrated on
    ``calibration``; with ``validation`` (inputs, labels) and ``max_drop`` (points), under
    accuracy control. Returns how it was quantised, for the file's facts."""
    import nncf
    import openvino as ov

    from zoo.deployed import openvino_core

    if calibration is None or not len(calibration):
        raise ExportError("NNCF's int8 quantisation needs calibration inputs")
    nncf.set_log_level(logging.ERROR)
    model = openvino_core().read_model(str(ir))
    dataset = nncf.Dataset(batches(calibration, fixed_batch))
    how = NNCF
    try:
        with captured_output():
            if validation is not None and max_drop is not None:
                inputs, labels = validation
                pairs = list(
                    zip(batches(inputs, fixed_batch), batches(labels, fixed_batch), strict=True)
                )
                quantised = nncf.quantize_with_accuracy_control(
                    model,
                    dataset,
                    nncf.Dataset(pairs),
                    top1_of,
                    max_drop=max_drop / 100,
                    drop_type=nncf.DropType.ABSOLUTE,
                    subset_size=len(calibration),
                )
                how += f", accuracy control within {max_drop:g} points on {len(inputs)} samples"
            else:
                quantised = nncf.quantize(model, dataset, subset_size=len(calibration))
        ov.save_model(quantised, str(out), compress_to_fp16=False)
    except Exception as exc:
        raise ExportError(f"NNCF could not quantise {ir.name}: {first_line(exc)}") from exc
    return how
