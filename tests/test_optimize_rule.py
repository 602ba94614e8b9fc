"""zoo optimize's decision rule on typed records, its metric, its samples and its record: no
files, no timing. Each test fails if the rule would choose a slower-than-float32 candidate, an
over-budget one, or confirm on the sample it chose on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zoo.artifacts.card import ModelCard, Preprocessing
from zoo.artifacts.decision import (
    CHOSEN,
    SKIPPED,
    CandidateRecord,
    Decision,
    Figure,
    RunWith,
    Timing,
)
from zoo.artifacts.manifest import DatasetRef, ExportInfo, Manifest
from zoo.errors import ZooError
from zoo.export.optimize import rule
from zoo.export.optimize.metric import metric_for
from zoo.export.optimize.sampling import OptimizeData, overlap, split
from zoo.export.samples import load_samples

BASE = "onnxruntime, 2 threads"


def timing(p50: float, spread: float = 0.02) -> Timing:
    return Timing(p50, p50 * (1 - spread), p50 * (1 + spread), 1e3 / p50, 10)


def candidate(
    name: str, p50: float, drop: float = 0.0, spread: float = 0.02, **more
) -> CandidateRecord:
    return CandidateRecord(
        name, "onnxruntime", "onnx", "int8", 1, drop=drop, timing=timing(p50, spread), **more
    )


def confirming(drops: dict[str, float], calls: list[str]) -> rule.Confirm:
    def confirm(name: str) -> tuple[Figure, Figure]:
        calls.append(name)
        drop = drops.get(name, 0.0)
        return Figure(90 - drop, 89, 91, 1000), Figure(drop, drop - 0.3, drop + 0.3, 1000)

    return confirm


def test_a_slower_candidate_is_never_chosen_however_accurate():
    records = [
        candidate(BASE, 1.0),
        candidate("slower but better", 1.5, drop=-2.0),
        candidate("faster within noise", 0.97, spread=0.05),
    ]
    calls: list[str] = []
    outcome = rule.decide(records, BASE, 1.0, "latency", confirming({}, calls))
    assert outcome.chosen == BASE and not outcome.beaten
    reasons = {r.name: r.reason for r in outcome.records}
    assert reasons["slower but better"].startswith("slower than")
    assert reasons["faster within noise"].startswith("within the noise of")
    assert calls == [BASE]  # nothing else was eligible to confirm
    assert outcome.ties == ("faster within noise",)  # named: another run may choose it


def test_over_budget_candidates_are_out_on_selection_and_give_way_on_confirmation():
    records = [
        candidate(BASE, 1.0),
        candidate("fastest, over budget", 0.3, drop=1.5),
        candidate("second, fails confirmation", 0.4, drop=0.2),
        candidate("third", 0.5, drop=0.4),
        candidate("fourth, ties with third", 0.51, spread=0.05),
        SKIPPED_RECORD,
    ]
    calls: list[str] = []
    confirm = confirming({"second, fails confirmation": 1.2, "third": 0.6}, calls)
    outcome = rule.decide(records, BASE, 1.0, "latency", confirm)
    assert outcome.chosen == "third"
    assert calls == ["second, fails confirmation", "third", BASE]
    by_name = {r.name: r for r in outcome.records}
    assert by_name["third"].status == CHOSEN and by_name["third"].confirmed_drop.value == 0.6
    assert "over budget on the selection sample" in by_name["fastest, over budget"].reason
    assert "over budget on the confirmation sample" in by_name["second, fails confirmation"].reason
    assert outcome.ties == ("fourth, ties with third",)
    assert by_name["no openvino"].status == SKIPPED and by_name["no openvino"].reason == "absent"
    chosen = by_name[outcome.chosen]
    assert chosen.confirmed_drop.value <= 1.0
    assert rule.beats(chosen.timing, by_name[BASE].timing)


SKIPPED_RECORD = CandidateRecord(
    "no openvino", "openvino", "openvino", "fp32", 1, status=SKIPPED, reason="absent"
)


def test_failed_parity_is_out_and_throughput_orders_by_samples_per_second():
    records = [
        candidate(BASE, 2.0),
        candidate("broken", 0.2, parity_passed=False, parity="max |a-b| nan"),
        candidate("quick", 1.0),
        candidate("quicker", 0.8),
    ]
    names, reasons = rule.order(records, BASE, 1.0, "throughput")
    assert names == ["quicker", "quick", BASE]
    assert reasons["broken"].startswith("fails parity")


def test_a_budget_only_float32_meets_writes_float32():
    records = [candidate(BASE, 1.0), candidate("int8", 0.4, drop=0.3)]
    outcome = rule.decide(records, BASE, 0.0, "latency", confirming({}, []))
    assert outcome.chosen == BASE
    assert "over budget on the selection sample" in outcome.records[1].reason


def test_paired_drop_and_its_interval():
    metric = metric_for(regression=False, labelled=True)
    labels = np.zeros(400, int)
    right = np.tile([[1.0, 0.0]], (400, 1))
    wrong = right.copy()
    wrong[:8] = [0.0, 1.0]  # 8 of 400 flipped: 2 points
    drop = metric.drop(metric.scores(right, labels), metric.scores(wrong, labels))
    assert drop.value == pytest.approx(2.0) and drop.low < 2.0 < drop.high
    figure = metric.figure(metric.scores(wrong, labels))
    assert figure.value == pytest.approx(98.0) and figure.low < 98 < figure.high <= 100
    mae = metric_for(regression=True, labelled=True)
    scores = mae.scores(np.array([[1.0], [3.0]]), np.array([2.0, 2.0]))
    assert list(scores) == [1.0, 1.0]


def test_selection_and_confirmation_samples_are_disjoint_and_balanced():
    preprocessing = Preprocessing((1, 8, 8), (0.0,), (1.0,))
    test = load_samples(preprocessing, DatasetRef("digits"), None, 300, 0)
    selection, confirmation = split(test, 100, 200)
    assert overlap(selection, confirmation) == 0
    assert not set(selection.index) & set(confirmation.index)
    assert len(selection) == 100 and len(confirmation) == 200
    assert np.bincount(selection.labels).min() >= 9  # stratified: every class
    data = OptimizeData(selection, confirmation, selection, True)
    data.check_disjoint()
    shared = OptimizeData(selection, test.subset(np.arange(50, 150), "overlapping"), test, True)
    with pytest.raises(ZooError, match="share 50 item"):
        shared.check_disjoint()
    unindexed = test.subset(np.arange(90, 110), "no index")
    unindexed = type(unindexed)(**{**unindexed.__dict__, "index": None})
    assert overlap(selection, unindexed) == 10  # by content when item numbers are unknown


def decision() -> Decision:
    records = (
        candidate(BASE, 1.0, selection=Figure(90.0, 89.0, 91.0, 100)),
        SKIPPED_RECORD,
    )
    return Decision(
        run=RunWith("m.onnx", "onnx", "onnxruntime", "fp32", 2, 1, settings={"a": "b"}),
        chosen=BASE,
        baseline=BASE,
        objective="latency",
        batch=1,
        device="cpu",
        max_drop=1.0,
        metric="top-1 %",
        accuracy_measured=True,
        selection="100 samples",
        confirmation="200 other samples",
        candidates=records,
        summary="nothing beats float32 here",
        skipped=("OpenVINO IR files: absent",),
    )


def test_the_decision_record_is_read_back_by_new_and_old_code():
    card = ModelCard(model="m", preprocessing=Preprocessing((4,)), classes=("a", "b"))
    manifest = Manifest(card, ExportInfo(), "inputs", (), decision=decision())
    data = json.loads(json.dumps(manifest.to_json()))
    assert Manifest.from_json(data, "m").decision == decision()
    data["decision"]["future field"] = 1
    data["decision"]["candidates"][0]["another"] = "x"
    assert Manifest.from_json(data, "m").decision == decision()  # newer records still read
    del data["decision"]
    assert Manifest.from_json(data, "m").decision is None  # manifests from before it
    lines = decision().lines()
    assert (
        lines[0] == "nothing beats float32 here" and "skipped: OpenVINO IR files: absent" in lines
    )


def test_faster_in_every_interleaved_round_beats_float32_where_the_spreads_overlap():
    noisy = [1.0, 3.0, 1.1, 2.5, 1.2, 1.05, 2.0, 1.3]  # a busy machine: rounds move a lot
    base = Timing(1.25, 1.0, 3.0, 800.0, 8, tuple(noisy))
    always = Timing(1.1, 0.9, 2.7, 900.0, 8, tuple(0.9 * m for m in noisy))
    assert always.overlaps(base) and rule.beats(always, base)  # 8 of 8 rounds: p = 0.004
    mixed = [m * (0.9 if i % 2 else 1.05) for i, m in enumerate(noisy)]
    sometimes = Timing(1.2, 0.95, 2.8, 830.0, 8, tuple(mixed))
    assert not rule.beats(sometimes, base)  # 4 of 8 rounds: chance
    assert rule.tied(sometimes, base)


def test_one_of_many_candidates_winning_most_rounds_by_chance_does_not_beat_float32():
    """8 of 9 interleaved rounds is p = 0.02 for one candidate, but among a dozen compared with
    the same baseline one such run is likely by chance: the 5 % is shared (Bonferroni)."""
    rounds = [1.0, 1.2, 0.9, 1.1, 1.3, 1.0, 0.95, 1.15, 1.05]
    base = Timing(1.05, 0.9, 1.3, 950.0, 9, tuple(rounds))
    lucky = [m * 0.97 for m in rounds[:8]] + [rounds[8] * 1.02]
    candidate_timing = Timing(1.02, 0.87, 1.26, 980.0, 9, tuple(lucky))
    assert candidate_timing.overlaps(base)
    assert rule.beats(candidate_timing, base, compared=1)
    assert not rule.beats(candidate_timing, base, compared=12)
    always = Timing(0.99, 0.85, 1.24, 1010.0, 9, tuple(m * 0.95 for m in rounds))
    assert rule.beats(always, base, compared=12)  # 9 of 9: p = 0.002, beyond 5 % / 12
