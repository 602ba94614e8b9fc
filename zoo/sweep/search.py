"""``--search random|tpe``: Optuna chooses each run's parameters and stops runs that lag.

The study lives in an Optuna RDB storage: ``study.db`` (SQLite) in the sweep directory, or any
URL Optuna accepts (``--storage postgresql://...``, ``sqlite:////shared/study.db``), so several
processes and machines can work on one study at once: each runs ``zoo sweep`` with the same
``--storage`` and ``--study`` and trains the trials it asks for, until the study holds
``--trials`` of them (as with Optuna's MaxTrialsCallback, workers that start their last trials
at the same moment may add one each beyond it). Each trial reports its validation metric every epoch (``trial.report``)
and Optuna's MedianPruner stops those below the median of earlier trials at that epoch.

A trial whose process died (a crash, a kill, a preempted machine) is found by Optuna's heartbeat
and queued again with its parameters (``RetryHeartbeatStaleTrialCallback``); ``zoo sweep
--resume`` does the same at once for its own trials; either way the retry continues the run
directory from its last checkpoint when it is on this machine. Samplers are seeded from
``--seed`` for a study in the sweep directory; workers of a shared study each sample
independently.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.artifacts.run import RunDir
from zoo.errors import ZooError, first_line
from zoo.sweep.jobs import Job, JobEnded, train_job
from zoo.sweep.plan import Axis, SweepPlan, run_name
from zoo.sweep.state import Sweep

INSTALL = "pip install 'torch-zoo[sweep]'"
STUDY_FILE = "study.db"
HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 120  # a trial without a heartbeat for this long is retried elsewhere
SQLITE_TIMEOUT = 60  # seconds a worker waits for another's write to a SQLite study
OPEN_ATTEMPTS = 3


class Interrupted(Exception):
    """A trial stopped by Ctrl-C: Optuna marks it failed; --resume queues it again."""


def require() -> Any:
    """The optuna module, or one line saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ZooError(f"--search random and tpe need Optuna: {INSTALL}") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # zoo shows the progress
    return optuna


def storage_url(sweep_path: Path, plan: SweepPlan) -> str:
    return plan.settings.storage or f"sqlite:///{(sweep_path / STUDY_FILE).resolve()}"


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    """Optuna calls its heartbeat and retry features experimental; zoo relies on them."""
    optuna = require()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_storage(url: str) -> Any:
    """An RDB storage with heartbeats, whose stale trials Optuna queues again. Workers that
    start together may race to create a new database's tables: a failed attempt is retried."""
    optuna = require()
    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if url.startswith("sqlite") else {}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            with quiet_experimental():
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine,
                    heartbeat_interval=HEARTBEAT_SECONDS,
                    grace_period=GRACE_SECONDS,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
                )
        except Exception as exc:  # SQLAlchemy and its drivers raise many kinds
            if attempt + 1 == OPEN_ATTEMPTS:
                raise ZooError(
                    f"cannot open the Optuna storage '{url}': {first_line(exc)}"
                ) from None
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def space(plan: SweepPlan) -> dict[str, Any]:
    """What a study searches, recorded in it so that every worker agrees."""
    return {
        "model": plan.model,
        "dataset": plan.dataset,
        "metric": plan.metric,
        "axes": [axis.to_json() for axis in plan.axes],
    }


def open_study(plan: SweepPlan, url: str, sampler: Any = None) -> Any:
    """The study (made if new), checked to search what this sweep searches."""
    optuna = require()
    storage = open_storage(url)
    name = plan.settings.study or f"{plan.model}-{plan.dataset}"
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=plan.settings.startup_trials,
            n_warmup_steps=plan.settings.warmup_epochs,
        )
        if plan.settings.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=plan.direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        wanted = json.loads(json.dumps(space(plan)))
        recorded = study.user_attrs.get("zoo")
        if recorded is None:
            study.set_user_attr("zoo", wanted)
        elif recorded != wanted:
            raise ZooError(
                f"the study '{name}' in {url} searches {space_text(recorded)}; this sweep "
                f"searches {space_text(wanted)}: use another --study"
            )
    except ZooError:
        raise
    except Exception as exc:
        raise ZooError(
            f"cannot open the Optuna study '{name}' in '{url}': {first_line(exc)}"
        ) from None
    return study


def space_text(recorded: dict[str, Any]) -> str:
    axes = "; ".join(Axis.from_json(axis).text() for axis in recorded.get("axes", []))
    return (
        f"{recorded.get('model')} on {recorded.get('dataset')} by {recorded.get('metric')} ({axes})"
    )


def sampler(plan: SweepPlan, worker: int, trials_before: int) -> Any:
    """Optuna's RandomSampler or TPESampler. Seeded (``--seed``, the worker, the trials the
    study already has: a resumed study does not draw its first trials again) when the study is
    the sweep's own; a shared study's workers sample independently. TPE samples at random for
    its first trials, a third of ``--trials`` (2 to 10), then models the results."""
    optuna = require()
    seed = None
    if plan.settings.storage is None:
        seed = plan.shared.seed * 1000 + worker + 7919 * trials_before
    if plan.settings.search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    startup = max(2, min(10, plan.settings.trials // 3))
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def suggest(trial: Any, axis: Axis) -> Any:
    """The trial's value for one axis: a choice from a list, or from a range."""
    if not axis.is_range:
        return trial.suggest_categorical(axis.key, list(axis.values))
    if axis.integer:
        return trial.suggest_int(axis.key, axis.low, axis.high, log=axis.log)
    return trial.suggest_float(axis.key, float(axis.low), float(axis.high), log=axis.log)  # type: ignore[arg-type]


def retried(trials: list[Any]) -> set[int]:
    """Numbers of trials already queued again (Optuna's retry history)."""
    return {number for t in trials for number in t.system_attrs.get("retry_history", [])}


def counted(trials: list[Any]) -> int:
    """Trials that count towards ``--trials``: all but those failed for a reason other than
    diverging (an interrupted or killed trial is retried instead)."""
    optuna = require()
    fail = optuna.trial.TrialState.FAIL
    return sum(t.state != fail or t.user_attrs.get("status") == "diverged" for t in trials)


def requeue(sweep: Sweep) -> int:
    """For ``--resume``: queue again, with their parameters, this sweep's trials that were
    interrupted or whose process was killed (Optuna's own retry). How many were queued."""
    optuna = require()
    study = open_study(sweep.plan, storage_url(sweep.path, sweep.plan))
    trials = study.get_trials(deepcopy=False)
    done = retried(trials)
    states = optuna.trial.TrialState
    queued = 0
    for trial in trials:
        mine = trial.user_attrs.get("sweep") == sweep.id
        stale = trial.state == states.RUNNING or (
            trial.state == states.FAIL and trial.user_attrs.get("status") == "interrupted"
        )
        if not mine or not stale or trial.number in done:
            continue
        if trial.state == states.RUNNING:  # this sweep's lock is held: its process is gone
            study.tell(trial.number, state=states.FAIL)
        with quiet_experimental():
            optuna.storages.RetryHeartbeatStaleTrialCallback()(study, trial)
        queued += 1
    return queued


def work(sweep: Sweep, worker: int, send: Any, should_stop: Any) -> None:
    """Ask for trials and train them until the study holds ``--trials`` or the sweep stops."""
    optuna = require()
    plan = sweep.plan
    url = storage_url(sweep.path, plan)
    study = open_study(plan, url)
    study.sampler = sampler(plan, worker, len(study.get_trials(deepcopy=False)))
    width = len(str(max(plan.runs - 1, 1)))

    def objective(trial: Any) -> float:
        params = {axis.key: suggest(trial, axis) for axis in plan.axes}
        name = run_name(trial.number, params, width)
        earlier = trial.user_attrs.get("run_dir")  # a retried trial continues its directory
        if earlier and Path(earlier).parent.resolve() == sweep.path.resolve():
            name = Path(earlier).name
        run_dir = sweep.path / name
        trial.set_user_attr("sweep", sweep.id)
        trial.set_user_attr("run_dir", str(run_dir.resolve()))
        run = RunDir(run_dir)
        for row in run.history(run.saved_epoch()):  # a resumed run's epochs
            trial.report(row.value, row.epoch)

        def report(epoch: int, value: float) -> str | None:
            trial.report(value, epoch)
            return "pruned" if trial.should_prune() else None

        job = Job(trial.number, name, params, trial=trial.number)
        record = train_job(sweep, job, send, should_stop, report)
        trial.set_user_attr("status", record.status)
        send(JobEnded(record))
        if record.status == "pruned":
            raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")
        if record.status == "interrupted":
            raise Interrupted
        if record.status == "failed":
            raise ZooError(record.message)
        return math.nan if record.value is None else record.value  # nan: Optuna marks it failed

    # an interrupted trial stops the worker; a refused one too (the driving process reports it)
    with contextlib.suppress(Interrupted, ZooError):
        while not should_stop() and counted(study.get_trials(deepcopy=False)) < plan.runs:
            study.optimize(objective, n_trials=1)
