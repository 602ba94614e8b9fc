"""The decision on typed records alone: which candidates may be chosen, in which order they are
confirmed, and why each of the others lost. No torch, no files: the tests hold it to its rules.

1. A candidate that cannot run here, fails parity against eager, or loses more than ``max_drop``
   on the selection sample is out.
2. One that is not faster than the float32 baseline (ONNX Runtime float32) beyond the noise is
   out: a speed-up within the noise is no reason to leave float32. Beyond the noise: the rounds'
   spreads do not overlap, or, the rounds being interleaved, it is faster round by round beyond
   chance (a one-sided sign test over at least five paired rounds, at 5 % for the whole family
   of candidates compared with the baseline: Bonferroni, 5 % / their number, since among a dozen
   candidates one often wins a 5 % test by chance).
3. The rest, fastest first by the objective, are confirmed in turn on the confirmation sample:
   the first whose confirmed drop is within ``max_drop`` is chosen. Confirmation never sees the
   sample the choice was made on, so its figure is not flattered by the choice.
4. If none is confirmed, the baseline is chosen: nothing beats float32 here, and the candidates
   that were faster within the noise are named as its ties.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from zoo.artifacts.decision import CHOSEN, LOST, SKIPPED, CandidateRecord, Figure, Timing

LATENCY, THROUGHPUT = "latency", "throughput"
OBJECTIVES = (LATENCY, THROUGHPUT)
Confirm = Callable[[str], tuple[Figure, Figure]]  # a name -> (its figure, its paired drop)


@dataclass(frozen=True)
class Outcome:
    """The records with their status and reasons, the chosen one's name, and the ties."""

    records: tuple[CandidateRecord, ...]
    chosen: str
    ties: tuple[str, ...]
    beaten: bool  # something beat the baseline


def beats(timing: Timing, baseline: Timing, compared: int = 1) -> bool:
    """Faster than the baseline beyond the noise: a lower p50, and either spreads that do not
    overlap or faster in the paired, interleaved rounds beyond chance (a sign test at 5 % shared
    by the ``compared`` candidates tested against the same baseline)."""
    if timing.p50_ms >= baseline.p50_ms:
        return False
    alpha = 0.05 / max(1, compared)
    return not timing.overlaps(baseline) or timing.faster_in_rounds(baseline, alpha)


def tied(timing: Timing, chosen: Timing, compared: int = 1) -> bool:
    """Within the noise of the chosen one: neither beats the other."""
    return not beats(chosen, timing, compared) and not beats(timing, chosen, compared)


def compared_count(records: list[CandidateRecord], baseline: str) -> int:
    """How many candidates are timed against the baseline: the family the sign test's 5 % is
    shared by."""
    return sum(1 for r in records if r.timing is not None and r.name != baseline)


def slower_reason(timing: Timing, baseline: Timing, name: str) -> str:
    ratio = baseline.p50_ms / timing.p50_ms
    if timing.p50_ms >= baseline.p50_ms:
        return f"slower than {name} ({ratio:.2f}×: {timing.text()} against {baseline.text()})"
    return (
        f"within the noise of {name} ({ratio:.2f}×, the rounds' spreads overlap and it is not "
        f"faster round by round: {timing.text()} against {baseline.text()})"
    )


def screen(
    record: CandidateRecord, baseline: CandidateRecord, max_drop: float, compared: int = 1
) -> str:
    """Why ``record`` cannot be chosen on the selection sample's figures, or "" if it can."""
    if record.status == SKIPPED:
        return record.reason
    if record.timing is None:
        return "not timed"
    if record.parity_passed is False:
        return f"fails parity against eager: {record.parity}"
    if record.drop is not None and record.drop > max_drop:
        return f"over budget on the selection sample: drop {record.drop:.2f} > {max_drop:g}"
    assert baseline.timing is not None
    if record.name != baseline.name and not beats(record.timing, baseline.timing, compared):
        return slower_reason(record.timing, baseline.timing, baseline.name)
    return ""


def order(
    records: list[CandidateRecord], baseline: str, max_drop: float, objective: str
) -> tuple[list[str], dict[str, str]]:
    """The names to confirm, best first (the baseline last, as the fallback), and why each of
    the others is out."""
    base = next(r for r in records if r.name == baseline)
    compared = compared_count(records, baseline)
    reasons = {r.name: screen(r, base, max_drop, compared) for r in records if r.name != baseline}
    eligible = [r for r in records if r.name != baseline and not reasons[r.name]]

    def key(record: CandidateRecord) -> float:
        assert record.timing is not None
        return record.timing.p50_ms if objective == LATENCY else -record.timing.samples_per_s

    names = [r.name for r in sorted(eligible, key=key)]
    return [*names, baseline], {name: why for name, why in reasons.items() if why}


def decide(
    records: list[CandidateRecord],
    baseline: str,
    max_drop: float,
    objective: str,
    confirm: Confirm,
) -> Outcome:
    """Screen, order and confirm (``confirm`` measures a candidate on the confirmation sample);
    every record comes back with its status and why it lost."""
    names, reasons = order(records, baseline, max_drop, objective)
    confirmed: dict[str, tuple[Figure, Figure]] = {}
    chosen = baseline
    for name in names:
        confirmed[name] = confirm(name)
        if name == baseline or confirmed[name][1].value <= max_drop:
            chosen = name
            break
        drop = confirmed[name][1]
        reasons[name] = (
            f"over budget on the confirmation sample: drop {drop.value:.2f} > {max_drop:g} "
            f"(its selection figure did not hold)"
        )
    if baseline not in confirmed:
        confirmed[baseline] = confirm(baseline)
    by_name = {r.name: r for r in records}
    winner = by_name[chosen]
    compared = compared_count(records, baseline)
    ties = [] if chosen != baseline else baseline_ties(records, winner, max_drop, compared)
    for name in names[names.index(chosen) + 1 :]:
        other = by_name[name]
        assert other.timing is not None and winner.timing is not None
        if tied(other.timing, winner.timing, compared) and name != baseline:
            ties.append(name)
            reasons[name] = f"ties with {chosen} within the noise ({other.timing.text()})"
        elif name != baseline:
            reasons[name] = slower_reason(other.timing, winner.timing, chosen)
    if chosen != baseline:
        reasons[baseline] = f"the float32 reference; {chosen} beats it beyond the noise"
    out = []
    for record in records:
        figures = confirmed.get(record.name)
        status = CHOSEN if record.name == chosen else SKIPPED if record.status == SKIPPED else LOST
        out.append(
            dataclasses.replace(
                record,
                status=status,
                reason=reasons.get(record.name, record.reason) if status != CHOSEN else "",
                confirmation=figures[0] if figures else None,
                confirmed_drop=figures[1] if figures else None,
            )
        )
    return Outcome(tuple(out), chosen, tuple(ties), chosen != baseline)


def baseline_ties(
    records: list[CandidateRecord], base: CandidateRecord, max_drop: float, compared: int
) -> list[str]:
    """When float32 stays: the candidates faster than it within the noise (parity passed, not
    over budget where measured), which another run on a quieter moment may choose."""
    assert base.timing is not None
    return [
        r.name
        for r in records
        if r.name != base.name
        and r.status != SKIPPED
        and r.timing is not None
        and r.timing.p50_ms < base.timing.p50_ms
        and tied(r.timing, base.timing, compared)
        and r.parity_passed is not False
        and (r.drop is None or r.drop <= max_drop)
    ]
