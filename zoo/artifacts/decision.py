"""``zoo optimize``'s decision record, as typed objects kept in an export's manifest: how to run
the chosen file (:class:`RunWith`, all that ``zoo predict`` and a server need), every candidate
with its accuracy, parity, latency, size and why it lost (:class:`CandidateRecord`), and the
samples the choice was made and confirmed on. No torch or numpy here: deployment machines read it.

Each type converts itself to and from JSON in one place; a field added later gets a default, so
that records written before it are still read, and code from before the record ignores it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CHOSEN, LOST, SKIPPED = "chosen", "lost", "skipped"
RUNTIMES = ("onnxruntime", "openvino", "torch")


def known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that ``cls`` has fields for (newer records may carry more)."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


@dataclass(frozen=True)
class RunWith:
    """How to run the chosen file: a file of the export directory, the runtime that runs it, the
    precision it computes in there and the runtime's settings."""

    file: str  # a name inside the export directory (its manifest entry says format and hash)
    format: str  # onnx, openvino, exported-program
    runtime: str  # onnxruntime, openvino or torch
    precision: str  # what it computes in: fp32, bf16, fp16, int8
    threads: int  # intra-op threads
    batch: int  # the batch size it was chosen for
    device: str = "cpu"
    settings: Mapping[str, str] = field(default_factory=dict)  # e.g. ORT's graph optimisation
    backend: str = ""  # the bench backend that measured it (zoo bench --backends NAME)

    def text(self) -> str:
        return (
            f"{self.file} with {self.runtime} in {self.precision} on {self.device}, "
            f"{self.threads} thread(s), batch {self.batch}"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "settings": dict(self.settings)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunWith:
        values = known(cls, data)
        values["settings"] = dict(values.get("settings") or {})
        return cls(**values)


@dataclass(frozen=True)
class Figure:
    """A metric measured on a sample: its value with a 95 % interval, and on how many items.
    Top-1 in percent (Wilson interval); MAE in the target's units (normal interval)."""

    value: float
    low: float
    high: float
    samples: int

    def text(self, unit: str = "") -> str:
        return (
            f"{self.value:.2f}{unit} (95 % CI {self.low:.2f}–{self.high:.2f}, n={self.samples:,})"
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Figure | None:
        return None if data is None else cls(**known(cls, data))


@dataclass(frozen=True)
class Timing:
    """Latency at the decision's batch as bench measures it: p50 of interleaved rounds, with
    the fastest and slowest round's median (the spread), and the throughput it means."""

    p50_ms: float
    low_ms: float
    high_ms: float
    samples_per_s: float
    rounds: int
    round_ms: tuple[float, ...] = ()  # each round's median, in the order the rounds ran

    @property
    def spread(self) -> float:
        return (self.high_ms - self.low_ms) / (2 * self.p50_ms) if self.p50_ms else 0.0

    def overlaps(self, other: Timing) -> bool:
        """Whether the two spreads overlap: a difference within the noise."""
        return self.low_ms <= other.high_ms and other.low_ms <= self.high_ms

    def faster_in_rounds(self, other: Timing, alpha: float = 0.05) -> bool:
        """Faster than ``other`` round by round, beyond chance: the rounds were interleaved, so
        a load spike slows both in the same round; the sign test over paired rounds (one-sided,
        at ``alpha``) holds where the spreads of a busy machine overlap."""
        pairs = list(zip(self.round_ms, other.round_ms, strict=False))
        wins = sum(mine < theirs for mine, theirs in pairs)
        return len(pairs) >= 5 and sign_test(wins, len(pairs)) < alpha

    def text(self) -> str:
        return f"p50 {self.p50_ms:.3f} ms ±{self.spread:.1%}, {self.samples_per_s:,.0f}/s"

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Timing | None:
        if data is None:
            return None
        values = known(cls, data)
        values["round_ms"] = tuple(values.get("round_ms") or ())
        return cls(**values)


def sign_test(wins: int, count: int) -> float:
    """P(at least ``wins`` of ``count`` fair coin flips): the one-sided sign test's p-value."""
    return sum(math.comb(count, k) for k in range(wins, count + 1)) / 2**count


@dataclass(frozen=True)
class CandidateRecord:
    """One candidate: a file, a runtime, a precision and settings; what it measured and its fate.

    ``selection`` is the metric on the selection sample; ``drop`` its loss against the float32
    reference there (points of top-1, or MAE increase; positive is worse); ``confirmation`` and
    ``confirmed_drop`` are measured only for candidates that were confirmed.
    """

    name: str  # "openvino int8 (NNCF), 2 threads"
    runtime: str
    format: str
    precision: str
    threads: int
    variant: str = ""  # how the file was made (quantisation), as the manifest's facts say
    status: str = LOST  # chosen, lost or skipped
    reason: str = ""  # why it lost or was skipped
    bytes: int | None = None
    parity_passed: bool | None = None
    parity: str = ""  # max |a−b| and top-1 agreement with eager, in words
    selection: Figure | None = None
    drop: float | None = None
    confirmation: Figure | None = None
    confirmed_drop: Figure | None = None  # the paired drop with its interval
    timing: Timing | None = None
    speedup: float | None = None  # against the baseline's p50

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CandidateRecord:
        values = known(cls, data)
        for name in ("selection", "confirmation", "confirmed_drop"):
            values[name] = Figure.from_json(values.get(name))
        values["timing"] = Timing.from_json(values.get("timing"))
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    """What ``zoo optimize`` chose, on what, and why: read by ``zoo predict`` (``run``), shown by
    ``zoo bench``, ``zoo info`` and ``zoo verify``."""

    run: RunWith
    chosen: str  # the chosen candidate's name
    baseline: str  # the float32 reference (ONNX Runtime float32): never chosen if slower
    objective: str  # latency or throughput
    batch: int
    device: str
    max_drop: float
    metric: str  # "top-1 %", "MAE", or agreement with float32 where there were no labels
    accuracy_measured: bool
    selection: str  # the selection sample's origin
    confirmation: str  # the confirmation sample's origin (disjoint from the selection sample)
    candidates: tuple[CandidateRecord, ...]
    summary: str  # one line: what was chosen and why
    ties: tuple[str, ...] = ()  # candidates within the noise of the chosen one
    skipped: tuple[str, ...] = ()  # what could not be tried here, and why (one line each)
    notes: tuple[str, ...] = ()
    wall_seconds: float = 0.0
    machine: Mapping[str, Any] = field(default_factory=dict)
    stages: Mapping[str, float] = field(default_factory=dict)  # wall seconds of each stage
    # the stratified draw of the test split (seed: the manifest's) cut into the two samples:
    # items [0, cut) chose, [cut, draw) confirmed; 0 when the inputs were random
    draw: int = 0
    cut: int = 0

    def candidate(self, name: str) -> CandidateRecord | None:
        return next((c for c in self.candidates if c.name == name), None)

    def lines(self) -> list[str]:
        """The decision for people: the summary, the chosen file, ties, and what was skipped."""
        lines = [self.summary, f"runs: {self.run.text()}"]
        chosen = self.candidate(self.chosen)
        if chosen is not None and chosen.confirmation is not None:
            measured = "confirmed" if self.accuracy_measured else "agreement with float32"
            drop = chosen.confirmed_drop
            lines.append(
                f"{measured} {self.metric} on {self.confirmation}: "
                f"{chosen.confirmation.text()}"
                + ("" if drop is None else f", drop {drop.text()} (budget {self.max_drop:g})")
            )
        if self.ties:
            lines.append("ties within noise: " + "; ".join(self.ties))
        lines += [f"skipped: {line}" for line in self.skipped]
        lines += [f"note: {line}" for line in self.notes]
        return lines

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run"] = self.run.to_json()
        data["candidates"] = [c.to_json() for c in self.candidates]
        data["machine"] = dict(self.machine)
        data["stages"] = dict(self.stages)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Decision | None:
        if not data:
            return None
        values = known(cls, data)
        values["run"] = RunWith.from_json(data["run"])
        values["candidates"] = tuple(CandidateRecord.from_json(c) for c in data["candidates"])
        for name in ("ties", "skipped", "notes"):
            values[name] = tuple(values.get(name) or ())
        values["machine"] = dict(values.get("machine") or {})
        values["stages"] = dict(values.get("stages") or {})
        return cls(**values)
