"""The training loop: set-up from a resolved config, epochs, metrics, checkpoints every epoch,
clean stops (Ctrl-C, NaN), resume, and DistributedDataParallel under torchrun (rank 0 alone
writes the run directory). It reports through events (:mod:`zoo.train.events`) to observers and
never prints."""

from __future__ import annotations

import contextlib
import ctypes
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

import zoo
from zoo.artifacts.card import ModelCard
from zoo.artifacts.checkpoint import read_weights, resume_point, save_checkpoint
from zoo.artifacts.config import CONFIG_JSON, CONFIG_TOML, TrainConfig
from zoo.artifacts.run import METRICS_FILE, EpochMetrics, Measured, history_text
from zoo.errors import ZooError
from zoo.factory import build_model, load_weights, new_head_message
from zoo.files import check_folder, hold, lock_file, write_text
from zoo.registry import get_model_info
from zoo.sources import RunDirectory, resolve
from zoo.train import report, tensorboard
from zoo.train.data import (
    Augmentation,
    BatchPipeline,
    TrainingData,
    dataset_facts,
    load_training_data,
    open_dataset,
    sample_inputs,
)
from zoo.train.device import autocast, effective_precision, pick_device
from zoo.train.distributed import Distributed
from zoo.train.eval_request import EvalRequest
from zoo.train.evaluation import evaluate_weights
from zoo.train.events import (
    Augmented,
    EpochEnded,
    Event,
    Observer,
    Outcome,
    RunEnded,
    RunStarted,
    Steps,
    StopRequested,
)
from zoo.train.objective import BestEpoch, Evaluation, Objective, evaluate
from zoo.train.optimisation import (
    PER_STEP,
    WeightAverage,
    make_optimizer,
    make_scheduler,
    resting,
)
from zoo.train.runs import run_directory

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
SYNC_EVERY = 25  # steps between reads of the running loss (one device sync each)
CPU_CHANNELS_LAST = True  # measured faster for conv nets on CPU too (benchmarks/train_speed.py)
SAMPLES = 32  # training inputs a RunStarted event carries, for TensorBoard's sample grid
DATA_INIT = "zoo_data_init"  # the model method zoo calls once with training inputs
DATA_INIT_SAMPLES = 5000  # how many (airbench94's whitening layer takes 5,000)

# Called after each epoch is saved, with its metrics; a status ("interrupted", "pruned") stops
# the run there (a sweep's Ctrl-C, Optuna's pruner), None goes on.
EpochCallback = Callable[[EpochMetrics], str | None]


class StopSignal:
    """Ctrl-C once: finish the epoch, save, stop. Twice: stop now (the last checkpoint stays).
    A second Ctrl-C during a checkpoint write takes effect once the write is done."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self.emit = emit
        self.requested = self.pending = self.saving = False
        self.previous: Any = None

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def handle(self, _signum: int, _frame: FrameType | None) -> None:
        if not self.requested:
            self.requested = True
            self.emit(StopRequested())
            return
        if self.saving:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def protect(self) -> Iterator[None]:
        """Defer a hard stop until the block (a checkpoint write) is complete."""
        self.saving = True
        try:
            yield
        finally:
            self.saving = False
        if self.pending:
            raise KeyboardInterrupt


def keep_freed_memory() -> None:
    """Keep freed tensor memory in the process (glibc only). By default glibc hands large freed
    blocks back to the OS, so every CPU training step page-faults its activation buffers back
    in: with cifar10-cnn at batch 25 that is ~40 % of the step (benchmarks/train_speed.py)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # another C library (musl): leave it alone
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # the largest glibc accepts
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch random states as plain tensors and lists (weights_only-safe)."""
    version, keys, gauss = random.getstate()
    kind, np_keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "keys": list(keys), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    python, numpy = state["python"], state["numpy"]
    random.setstate((python["version"], tuple(python["keys"]), python["gauss"]))
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached"],
        )
    )
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available():  # as many GPUs' states as both machines have
        for index, cuda in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda, index)


def has_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


class Trainer:
    """One training run, fresh or resumed, reporting to ``observers`` (on rank 0 only)."""

    def __init__(
        self,
        config: TrainConfig,
        observers: list[Observer] | None = None,
        resume_dir: Path | None = None,
    ) -> None:
        self.config = config
        if config.tensorboard:
            tensorboard.require()  # before any data is read
        self.distributed = Distributed()
        self.main = self.distributed.main
        self.locks = contextlib.ExitStack()  # the run directory, held by rank 0 until the end
        if self.main:
            check_folder(
                resume_dir or Path(config.out), "the run directory" if resume_dir else "--out"
            )
            if resume_dir is not None:  # before any work: a second command on it stops here
                self.locks.enter_context(hold_run(resume_dir))
        try:
            self.set_up(config, observers, resume_dir)
        except BaseException:
            self.locks.close()
            raise

    def set_up(
        self, config: TrainConfig, observers: list[Observer] | None, resume_dir: Path | None
    ) -> None:
        """Device, data, model, optimisation, then the run directory and its checkpoint."""
        board = [tensorboard.Board()] if config.tensorboard else []
        self.observers = [*(observers or []), *board]
        self.device = pick_device(config.device, self.distributed.local_rank)
        self.distributed.start(self.device)
        if self.device.type == "cpu":
            keep_freed_memory()
        seed_everything(config.seed)
        self.set_up_data()
        self.set_up_model()
        self.set_up_optimisation()
        self.history: list[EpochMetrics] = []
        self.best: BestEpoch | None = None
        self.start_epoch = 0
        self.run_dir = self.open_run_dir(resume_dir)
        self.restore(self.run_dir)  # a new run directory has no checkpoint yet
        self.initialise_from_data()
        self.model: torch.nn.Module = self.base
        if self.distributed.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.base, device_ids=ids)
            world = self.distributed.world
            self.notes.append(
                f"DistributedDataParallel over {self.distributed.backend}, "
                f"{world} process{'es' if world > 1 else ''}"
            )
        if config.compile:
            self.model = torch.compile(self.model)

    def set_up_data(self) -> None:
        """The dataset's facts, the objective, the model built for them (from ``--weights`` when
        fine-tuning), and the train and validation splits."""
        config = self.config
        train_set = open_dataset(config.dataset, config.dataset_args, config.data_dir, train=True)
        facts = dataset_facts(config.dataset, train_set)
        model_output = get_model_info(config.model).output
        self.output = "regression" if facts.task == "regression" else model_output
        smoothing = config.label_smoothing
        self.objective = Objective(facts.task, self.output, len(facts.names), smoothing)
        self.base = build_model(
            config.model,
            num_classes=len(facts.names),
            input_shape=facts.input_shape,
            **config.model_args,
        )
        self.objective.check_output(self.base, config.model, tuple(facts.input_shape))
        self.notes: list[str] = []
        self.initialised_from = self.initialise(len(facts.names)) if config.weights else ""
        self.data: TrainingData = load_training_data(
            config, train_set, facts, self.device, self.distributed.shard
        )
        if "too few" in self.data.val_source:
            self.notes.append(
                f"warning: validation on {self.data.val_source}: the best epoch would be picked "
                "on noise; hold out more with --val-split (a share such as 0.1, or a count)"
            )
        # what the epoch metrics are measured on: held-out items ("val"), or the test split
        # itself ("test"), whose numbers must not pick the weights a run keeps
        self.split = "val" if config.val_split else "test"

    def set_up_optimisation(self) -> None:
        """The optimizer (over its parameter groups), the schedule, the weight average."""
        config = self.config
        self.optimizer = make_optimizer(config, self.base)
        steps = self.data.train.steps(train=True)
        self.scheduler = make_scheduler(config, self.optimizer, steps)
        self.per_step = config.scheduler in PER_STEP
        self.average = None
        if config.ema or config.lookahead:
            self.average = WeightAverage(self.base, config, config.epochs * steps)

    def open_run_dir(self, resume_dir: Path | None) -> Path:
        """The run directory: rank 0's, on every rank (refused when a rank cannot see it)."""
        job, restart = self.distributed.job, self.distributed.restart
        run_dir = self.distributed.share(
            lambda: resume_dir or run_directory(self.config, job, restart)
        )
        if self.distributed.any(not run_dir.is_dir(), self.device):
            raise ZooError(
                f"the run directory {run_dir} is not visible to every process: with "
                "several nodes, --out must be a folder that all of them share"
            )
        if self.main and resume_dir is None:  # a new one (or a torchrun job's, after a restart)
            self.locks.enter_context(hold_run(run_dir))
        return run_dir

    def set_up_model(self) -> None:
        """The model on its device, channels-last where that is faster, the precision it runs
        in, and the batch pipeline that feeds it."""
        facts = self.data.description
        self.precision = effective_precision(self.config.precision, self.device)
        self.channels_last = (
            facts.image
            and has_conv(self.base)
            and (self.device.type == "cuda" or (self.device.type == "cpu" and CPU_CHANNELS_LAST))
        )
        self.base.to(self.device)
        if self.channels_last:
            self.base.to(memory_format=torch.channels_last)
        self.pipeline = BatchPipeline(
            facts.preprocessing(),
            self.device,
            self.channels_last,
            Augmentation.of(self.config),
            self.config.seed,
        )

    def emit(self, event: Event) -> None:
        if self.main:
            for observer in self.observers:
                observer(event)

    # -- state ------------------------------------------------------------------------------

    def initialise(self, classes: int) -> str:
        """Fine-tuning: start from ``--weights`` (a new head where the class count differs);
        what the cards record as ``initialised_from``."""
        weights = resolve(self.config.model, str(self.config.weights))
        card, where = weights.card, weights.label
        fresh = load_weights(self.base, read_weights(weights.weights_file), card, where, classes)
        origin = f"{where} (sha256 {card.weights_sha256[:12]})"  # no paths: cards record it
        self.notes.append(f"initialised from {origin}")
        if fresh:
            self.notes.append(new_head_message(fresh, where, len(card.classes), classes))
        return origin

    def restore(self, run_dir: Path) -> None:
        """Continue from the run's last checkpoint (from scratch if it never finished an epoch)."""
        point = resume_point(run_dir)
        if point is None:
            return
        checkpoint, state = point
        if checkpoint.card.model != self.config.model:
            raise ZooError(
                f"{run_dir} holds model '{checkpoint.card.model}', "
                f"its config names '{self.config.model}'"
            )
        if checkpoint.epoch >= self.config.epochs:
            raise ZooError(
                f"{run_dir} already finished its {self.config.epochs} "
                f"{'epoch' if self.config.epochs == 1 else 'epochs'}: "
                "pass --epochs N (more) to train further"
            )
        self.base.load_state_dict(state.get("live") or checkpoint.weights)
        if self.average is not None:
            self.average.load(checkpoint.weights)  # the checkpoint keeps the average
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
            if isinstance(self.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                self.scheduler.T_max = self.config.epochs
        set_rng_state(state["rng"])
        self.history = [EpochMetrics.from_json(row) for row in state["history"]]
        self.best = BestEpoch.from_state(state["best"])
        self.start_epoch = checkpoint.epoch

    def card(self, epoch: int, metrics: EpochMetrics) -> ModelCard:
        """What a checkpoint says about its weights besides the tensors."""
        config, facts = self.config, self.data.description
        return ModelCard(
            model=config.model,
            preprocessing=facts.preprocessing(),
            classes=tuple(facts.names),
            task=facts.task,
            output=self.output,
            model_args=dict(config.model_args),
            dataset=config.dataset,
            dataset_args=dict(config.dataset_args),
            training=config.training_options() | {"precision": self.precision},
            seed=config.seed,
            epoch=epoch,
            metrics=metrics.to_json(),
            evaluated_on=self.data.val_source,
            evaluation_tta=config.tta,
            run=self.run_dir.name,
            initialised_from=self.initialised_from,
            zoo_version=zoo.__version__,
            torch_version=torch.__version__,
        )

    def training_state(self, epoch: int) -> dict[str, Any]:
        live = {"live": self.base.state_dict()} if self.average is not None else {}
        return {
            **live,
            "epoch": epoch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng_state(),
            "history": [row.to_json() for row in self.history],
            "best": self.best.to_state() if self.best else {},
        }

    # -- the run ----------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        return autocast(self.precision, self.device)

    def initialise_from_data(self) -> None:
        """The plugin hook: a model with a ``zoo_data_init(inputs)`` method gets a sample of
        preprocessed training inputs once, before the first epoch of a fresh run (not on resume,
        not when starting from trained weights); airbench's whitening layer is set from it."""
        hook = getattr(self.base, DATA_INIT, None)
        if hook is None or self.start_epoch or self.config.weights:
            return
        split = self.data.train
        generator = torch.Generator().manual_seed(self.config.seed)
        picked = torch.randperm(split.size, generator=generator)[:DATA_INIT_SAMPLES]
        inputs = self.pipeline(sample_inputs(split, picked).to(self.device))
        with torch.no_grad():
            hook(inputs)
        self.notes.append(f"{DATA_INIT}: initialised from {len(picked):,} training inputs")

    def run(self, on_epoch: EpochCallback | None = None) -> Outcome:
        """Train the remaining epochs; write the report at the end, however it ends; then let
        go of the run directory."""
        with self.locks:
            return self.run_epochs(on_epoch)

    def run_epochs(self, on_epoch: EpochCallback | None) -> Outcome:
        if self.main:
            self.start()
        status, message, epoch = "finished", "", self.start_epoch
        stop = StopSignal(self.emit)
        try:
            with stop:
                for epoch_number in range(self.start_epoch + 1, self.config.epochs + 1):
                    trouble = self.train_epoch(epoch_number)
                    if trouble:
                        status, message = "diverged", trouble
                        break
                    with stop.protect():  # a second Ctrl-C stops once the save is complete
                        self.end_epoch(epoch_number)
                        epoch = epoch_number
                    verdict = on_epoch(self.history[-1]) if on_epoch else None
                    if verdict and epoch_number < self.config.epochs:
                        status = verdict
                        break
                    if self.distributed.any(stop.requested, self.device):
                        if epoch_number < self.config.epochs:
                            status = "interrupted"
                        break
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            self.distributed.stop()
        outcome = Outcome(self.run_dir, status, epoch, message, list(self.history))
        kept = None
        if self.main and self.history and self.best is not None:
            kept = report.write_run_report(
                self.run_dir, self.history, self.best, list(self.data.description.names)
            )
            if status == "finished" and self.config.tta != "none":
                kept = replace(kept, augmented=self.evaluate_augmented())
        self.emit(RunEnded(outcome, self.config, kept))
        return outcome

    def evaluate_augmented(self) -> Augmented:
        """``--tta``: the kept checkpoint on the test split, as ``zoo eval RUN --tta MODE
        --precision P`` evaluates it, so the run's figure is the one its weights reproduce."""
        started = time.perf_counter()
        request = EvalRequest(
            data_dir=self.config.data_dir, device=str(self.device), precision=self.precision
        )  # the TTA its card records: the run's --tta
        result = evaluate_weights(RunDirectory(self.run_dir), request)
        return Augmented(result.headline, result.folder, time.perf_counter() - started)

    def start(self) -> None:
        """Write the configuration and the metrics so far; tell the observers."""
        config, data = self.config, self.data
        write_text(self.run_dir / CONFIG_JSON, config.to_json())
        write_text(self.run_dir / CONFIG_TOML, config.to_toml())
        write_text(self.run_dir / METRICS_FILE, history_text(self.history))  # a resumed run's
        train = data.train
        samples = getattr(train, "inputs", None)
        targets = getattr(train, "targets", None)
        self.emit(
            RunStarted(
                config=config,
                run_dir=self.run_dir,
                resumed_after=self.start_epoch,
                train_items=train.size,
                validation=data.val_source,
                device=str(self.device),
                world=self.distributed.world,
                restart=self.distributed.restart,
                classes=tuple(data.description.names),
                task=data.description.task,
                precision=self.precision,
                samples=None if samples is None else samples[:SAMPLES].cpu(),
                targets=None if targets is None else targets[:SAMPLES].cpu(),
                notes=tuple(self.notes),
            )
        )

    def train_epoch(self, epoch: int) -> str | None:
        """One pass over this rank's shard; a message if the loss stopped being finite."""
        self.model.train()
        self.pipeline.start_epoch(epoch, self.distributed.rank)
        split = self.data.train
        totals = torch.zeros(3, device=self.device)
        steps = split.steps(train=True)
        started = self.epoch_started = time.perf_counter()
        done_before = (epoch - 1) * steps
        rates: list[float] = []
        frozen = resting(self.optimizer, epoch)
        for step, (inputs, targets, index) in enumerate(split.batches(epoch), 1):
            inputs = self.pipeline(inputs, index, train=True)
            with self.autocast():
                output = self.model(inputs)
                loss = self.objective.loss(output, targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for parameter in frozen:
                parameter.grad = None
            rates.append(self.optimizer.param_groups[-1]["lr"])
            self.optimizer.step()
            if self.per_step:
                self.scheduler.step()  # type: ignore[union-attr]
            if self.average is not None:
                self.average.update(self.base, done_before + step)
            totals += self.objective.sums(output, targets, loss)
            if step % SYNC_EVERY == 0 or step == steps:
                loss_sum, _, count = totals.tolist()
                if not self.distributed.enabled and not math.isfinite(loss_sum):
                    return self.diverged(epoch, step)
                speed = count * self.distributed.world / (time.perf_counter() - started)
                self.emit(
                    Steps(
                        epoch,
                        self.config.epochs,
                        step,
                        steps,
                        loss_sum / count,
                        speed,
                        tuple(rates),
                        done_before + step,
                    )
                )
                rates = []
        self.train_seconds = time.perf_counter() - started
        self.train_totals = self.distributed.reduce(totals)
        if not math.isfinite(float(self.train_totals[0])):
            return self.diverged(epoch, steps)
        return None

    def diverged(self, epoch: int, step: int) -> str:
        saved = epoch - 1
        kept = f"the last good checkpoint (epoch {saved}) is kept" if saved else "nothing was saved"
        return (
            f"the training loss became NaN or infinite in epoch {epoch} (by step {step}); "
            f"stopped, {kept}. Try a lower --lr (it is {self.config.lr:g})"
        )

    def end_epoch(self, epoch: int) -> None:
        """Validate, record the epoch's metrics, tell the observers, save checkpoints."""
        with self.averaged():
            val = evaluate(
                self.base,
                self.data.val,
                self.pipeline,
                self.objective,
                self.autocast,
                self.distributed.reduce,
            )
        if self.scheduler is not None and not self.per_step:
            self.scheduler.step()
        loss_sum, second, count = self.train_totals.tolist()
        metrics = EpochMetrics(
            epoch=epoch,
            metric=self.objective.metric,
            split=self.split,
            train=Measured(loss_sum / count, second / count),
            held=Measured(val.loss, val.metric),
            train_items=int(count),
            lr=self.optimizer.param_groups[-1]["lr"],
            seconds=round(time.perf_counter() - self.epoch_started, 3),
            train_seconds=round(self.train_seconds, 3),
            images_per_second=round(count / self.train_seconds, 1),
        )
        self.history.append(metrics)
        kept = self.keeps(val)
        if kept:
            self.best = BestEpoch(epoch, metrics.key, val)
        if self.main:
            with open(self.run_dir / METRICS_FILE, "a") as file:
                file.write(history_text([metrics]))
            # before the checkpoint: a resume purges what it repeats (TensorBoard)
            self.emit(EpochEnded(metrics, self.config.epochs, kept, val.confusion))
            weights = self.average.weights(self.base) if self.average else self.base.state_dict()
            card = self.card(epoch, metrics)
            if kept and self.split == "val":
                save_checkpoint(self.run_dir, "best", weights, card)
            save_checkpoint(self.run_dir, "last", weights, card, self.training_state(epoch))

    def averaged(self) -> contextlib.AbstractContextManager[None]:
        """The averaged weights in the model, when the run keeps an average (validation)."""
        if self.average is None:
            return contextlib.nullcontext()
        return self.average.applied(self.base)

    def keeps(self, val: Evaluation) -> bool:
        """Whether this epoch's weights are the ones the run keeps: the best so far on held-out
        validation items; when validating on the test split, always the latest (choosing by test
        accuracy would make the reported test accuracy optimistic)."""
        if self.best is None or self.split == "test":
            return True
        if self.objective.regression:
            return val.metric < self.best.evaluation.metric
        return val.metric > self.best.evaluation.metric


def hold_run(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    """The run directory for this process alone: a second ``zoo train --resume`` (or a sweep
    resuming it) is refused while this one trains it."""
    return hold(lock_file(run_dir), f"the run {run_dir}", "trained")


def train(
    config: TrainConfig,
    observers: list[Observer] | None = None,
    resume_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
) -> Outcome:
    """Run (or resume) training as configured."""
    return Trainer(config, observers, resume_dir).run(on_epoch)
