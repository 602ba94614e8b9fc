"""The decision record from the rule's outcome, and the chosen file written as a certified export
(its certificate, verification inputs, weights copy, manifest) with the decision in the manifest."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from zoo.artifacts.decision import Decision, RunWith
from zoo.artifacts.manifest import Accuracy, Manifest
from zoo.export.checks import Checks
from zoo.export.optimize.candidates import Candidate
from zoo.export.optimize.metric import Metric
from zoo.export.optimize.rule import Outcome
from zoo.export.optimize.sampling import OptimizeData
from zoo.export.options import ExportRequest, OptimizeRequest
from zoo.export.pipeline import Exporting, export_info, file_stem, finish
from zoo.machine import this_machine

SETTINGS = {
    "onnxruntime": {"graph optimisation": "all", "execution mode": "sequential"},
    "openvino": {"PERFORMANCE_HINT": "LATENCY"},
}


def run_with(chosen: Candidate, file: str, batch: int) -> RunWith:
    """How to run the chosen file: all a deployment (zoo predict, a server) needs."""
    settings = dict(SETTINGS.get(chosen.runtime, {}))
    if chosen.runtime == "openvino":
        settings["INFERENCE_PRECISION_HINT"] = (
            "bf16" if chosen.backend.precision == "bf16" else "f32"
        )
    return RunWith(
        file=file,
        format=chosen.built.exported.format.name,
        runtime=chosen.runtime,
        precision=chosen.backend.precision,
        threads=chosen.threads,
        batch=batch,
        device=chosen.device,
        settings=settings,
        backend=chosen.backend.name,
    )


def summary(outcome: Outcome, chosen: Candidate, baseline: Candidate, max_drop: float) -> str:
    record = next(r for r in outcome.records if r.name == chosen.name)
    if not outcome.beaten:
        over = [r for r in outcome.records if "over budget" in r.reason]
        why = f" ({len(over)} candidate(s) over the {max_drop:g} budget)" if over else ""
        return f"nothing beats float32 here{why}: {baseline.name} is written"
    speed = f"{record.speedup:.2f}× {baseline.name}" if record.speedup else ""
    return f"chosen: {chosen.name}, {speed} beyond the noise, within the {max_drop:g} budget"


def make_decision(
    outcome: Outcome,
    chosen: Candidate,
    baseline: Candidate,
    request: OptimizeRequest,
    device: str,
    data: OptimizeData,
    metric: Metric,
    skipped: list[str],
    start: float,
) -> Decision:
    notes = []
    if not data.labelled:
        notes.append(
            f"accuracy was not measured (no labelled data, --allow-random-inputs): {metric.name} "
            "on random inputs stands in for it"
        )
    return Decision(
        run=run_with(chosen, "", request.batch),  # the file's name is set when it is written
        chosen=chosen.name,
        baseline=baseline.name,
        objective=request.objective,
        batch=request.batch,
        device=device,
        max_drop=request.max_drop,
        metric=metric.name,
        accuracy_measured=data.labelled,
        selection=data.selection.origin,
        confirmation=data.confirmation.origin,
        candidates=outcome.records,
        summary=summary(outcome, chosen, baseline, request.max_drop),
        ties=outcome.ties,
        skipped=tuple(skipped),
        notes=tuple(notes),
        wall_seconds=round(time.perf_counter() - start, 1),
        machine=this_machine().to_json(),
        draw=data.draw,
        cut=len(data.selection) if data.draw else 0,
    )


def accuracy_fact(decision: Decision, data: OptimizeData, metric: Metric) -> Accuracy:
    """The chosen file's confirmed top-1 beside float32's, as every export's facts carry it."""
    chosen, base = decision.candidate(decision.chosen), decision.candidate(decision.baseline)
    origin = data.confirmation.origin
    if not (data.labelled and metric.classification) or chosen is None or base is None:
        return Accuracy(None, None, 0, f"not checked: {decision.metric} is the decision's figure")
    assert chosen.confirmation is not None and base.confirmation is not None
    return Accuracy(
        chosen.confirmation.value / 100,
        base.confirmation.value / 100,
        chosen.confirmation.samples,
        origin,
    )


def write_chosen(
    source: Exporting,
    staging: Path,
    chosen: Candidate,
    verifying: Checks,
    decision: Decision,
    data: OptimizeData,
    metric: Metric,
    request: OptimizeRequest,
) -> Manifest:
    """The chosen file (and its companions) under its export name, certified, with the
    decision in the manifest."""
    exported = chosen.built.exported
    fmt, precision = exported.format, exported.precision
    path = staging / fmt.file_name(file_stem(source), precision.name)
    shutil.copyfile(exported.path, path)
    for src, dst in zip(fmt.companions(exported.path), fmt.companions(path), strict=True):
        shutil.copyfile(src, dst)
    facts = dataclasses.replace(
        exported.facts,
        accuracy=accuracy_fact(decision, data, metric),
        max_accuracy_drop=request.max_drop if precision.gated else None,
    )
    final = dataclasses.replace(exported, path=path, facts=facts, notes=[])
    decision = dataclasses.replace(decision, run=dataclasses.replace(decision.run, file=path.name))
    info = export_info(source, ExportRequest())
    return finish(source, staging, [final], verifying, info, [decision.summary], decision)
