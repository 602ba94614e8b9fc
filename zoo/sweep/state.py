"""The sweep directory on disk, what ``--resume`` reads back::

    runs/sweep-<model>-<dataset>-<time>/
        sweep.json               the plan, and a grid's runs with their parameters
        study.db                 the Optuna study (random/tpe, unless --storage names another)
        results.csv, .json       every run, ranked; plots/sweep.png
        <number>-<params>/       one ordinary run directory per run, plus:
            sweep_run.json       its number, parameters and how it ended (written at its start
                                 as "running", again at its end)
            train.log            what ``zoo train`` would have printed

Only one process drives a sweep directory at a time (a lock; the process's workers run under it).
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import zoo
from zoo.artifacts.run import RunDir
from zoo.errors import ZooError
from zoo.files import hold, lock_file, write_json
from zoo.sweep.plan import SweepPlan, run_name

SWEEP_FILE = "sweep.json"
RUN_FILE = "sweep_run.json"
FINAL = ("finished", "diverged", "pruned")  # never trained again


@dataclass(frozen=True)
class RunRecord:
    """One run of the sweep: its number (grid index or Optuna trial), directory and parameters,
    and how it ended ("running" until it does)."""

    number: int
    name: str
    params: dict[str, Any]
    status: str = "pending"
    epoch: int = 0  # the last saved epoch
    value: float | None = None  # the ranking metric of the weights it keeps
    message: str = ""
    seconds: float = 0.0  # this process's wall time on it: set-up, epochs, report
    epoch_seconds: float = 0.0  # the sum of its epochs' own times (metrics.jsonl)
    trial: int | None = None


@dataclass(frozen=True)
class Sweep:
    """An open sweep directory."""

    path: Path
    plan: SweepPlan
    id: str  # tells this sweep's trials apart in a shared Optuna study
    runs: tuple[RunRecord, ...] = field(default=())  # a grid's, in order; empty for a search
    created: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "zoo-sweep",
            "id": self.id,
            "created": self.created,
            "zoo_version": zoo.__version__,
            "plan": self.plan.to_json(),
            "runs": [{"number": r.number, "name": r.name, "params": r.params} for r in self.runs],
        }


def new_sweep_dir(out: Path, model: str, dataset: str) -> Path:
    """``out/sweep-<model>-<dataset>-<time>``, made unique with a suffix when needed."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"sweep-{model}-{dataset}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = out / (f"{stem}-{stamp}" if attempt == 1 else f"{stem}-{stamp}-{attempt}")
        with contextlib.suppress(FileExistsError):
            path.mkdir()
            return path
    raise ZooError(f"cannot make a new sweep directory in {out}")


def create(plan: SweepPlan) -> Sweep:
    """A new sweep directory in the runs' ``--out`` folder, its sweep.json written."""
    path = new_sweep_dir(Path(plan.shared.out), plan.model, plan.dataset)
    width = len(str(max(plan.runs - 1, 1)))
    runs = ()
    if plan.settings.search == "grid":
        runs = tuple(
            RunRecord(i, run_name(i, params, width), params)
            for i, params in enumerate(plan.combinations())
        )
    sweep = Sweep(path, plan, uuid.uuid4().hex, runs, datetime.now().isoformat(timespec="seconds"))
    write_json(path / SWEEP_FILE, sweep.to_json())
    return sweep


def load(path: Path) -> Sweep:
    """The sweep in ``path``, as ``zoo sweep`` created it."""
    file = path / SWEEP_FILE
    if not file.is_file():
        raise ZooError(f"'{path}' is not a sweep directory: it has no {SWEEP_FILE}")
    try:
        data = json.loads(file.read_text())
        if data.get("kind") != "zoo-sweep":
            raise ValueError("not written by zoo sweep")
        runs = tuple(RunRecord(r["number"], r["name"], r["params"]) for r in data["runs"])
        plan = SweepPlan.from_json(data["plan"])
        return Sweep(path, plan, data["id"], runs, data.get("created", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise ZooError(f"{file} is damaged: {exc}") from None


def lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the sweep directory for this process; refuse it if another process holds it. The
    operating system lets go when the process ends, however it ends."""
    return hold(lock_file(path), f"the sweep {path}", "run")


def write_record(run_dir: Path, record: RunRecord) -> None:
    write_json(run_dir / RUN_FILE, asdict(record))


def read_record(run_dir: Path) -> RunRecord | None:
    """A run's sweep_run.json; None when it has none (or it is unreadable)."""
    try:
        data = json.loads((run_dir / RUN_FILE).read_text())
        return RunRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def status_of(run_dir: Path, record: RunRecord, epochs: int) -> str:
    """How a run stands: its recorded end, else what its checkpoint says (a process killed
    before it could record: "finished" if it saved its last epoch, else "interrupted")."""
    if record.status in (*FINAL, "failed"):
        return record.status
    if record.status == "pending":  # never started
        return "pending"
    return "finished" if RunDir(run_dir).saved_epoch() >= epochs else "interrupted"
