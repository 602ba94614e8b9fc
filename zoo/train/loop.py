"""The training loop: set-up from a resolved config, epochs with a progress bar, metrics,
checkpoints every epoch, clean stops (Ctrl-C, NaN), resume, and DistributedDataParallel under
torchrun (gloo on CPU, NCCL on GPUs; rank 0 alone writes the run directory)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

import zoo
from zoo.card import ModelCard
from zoo.errors import ZooError
from zoo.factory import create_model, create_optimizer, get_model_info
from zoo.files import write_json, write_text
from zoo.train import report, tensorboard
from zoo.train.checkpoint import resume_point, save_checkpoint
from zoo.train.config import TrainConfig
from zoo.train.data import (
    Preprocess,
    Shard,
    TrainingData,
    describe,
    load_training_data,
    open_dataset,
)
from zoo.train.device import pick_device
from zoo.train.objective import Evaluation, Objective, evaluate

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
JOB_FILE = "torchrun.json"  # which torchrun job started a run, to find it again after a restart
STORE_TIMEOUT = timedelta(minutes=10)  # how long processes wait for each other to join
PROBE_TIMEOUT = timedelta(seconds=2)  # to tell a live store from one announced before a restart
SYNC_EVERY = 25  # steps between reads of the running loss (one device sync each)
CPU_CHANNELS_LAST = True  # measured faster for conv nets on CPU too (benchmarks/train_speed.py)


# Called after each epoch is saved, with its metrics; a status ("interrupted", "pruned") stops
# the run there (a sweep's Ctrl-C, Optuna's pruner), None goes on.
EpochCallback = Callable[[dict[str, Any]], str | None]


@dataclass
class Outcome:
    """How a run ended: "finished", "interrupted", "diverged" or a status its epoch callback
    gave ("pruned"), and its last saved epoch."""

    run_dir: Path
    status: str
    epoch: int
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)


class Distributed:
    """The process group when started by torchrun (``WORLD_SIZE`` > 1); a no-op otherwise."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        # set by torchrun: one id per job (the same after restarts) and the restarts so far
        self.job = os.environ.get("TORCHELASTIC_RUN_ID")
        self.restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world)

    def start(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            backend = "nccl" if device.type == "cuda" else "gloo"
            if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
                store = self.group_store()
                dist.init_process_group(backend, store=store, rank=self.rank, world_size=self.world)
            else:
                dist.init_process_group(backend)
            if device.type == "cpu":  # share the cores between the local processes
                torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.local_world))
            # torchrun counts restarts per node (a node that restarts only because another
            # one failed counts none): the group has restarted if any process says so
            restarts = torch.tensor([self.restart], device=device)
            dist.all_reduce(restarts, op=dist.ReduceOp.MAX)
            self.restart = int(restarts.item())

    def group_store(self) -> dist.Store:
        """A key-value store for this process group alone. torchrun's own store outlives a
        restart and still holds the failed group's addresses, which a new group would read
        (pytorch/pytorch#135712); so rank 0 serves a new store and announces it there with a
        token, and the others use the first announced store that answers with its token."""
        host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
        agent = dist.TCPStore(host, port, is_master=False, timeout=STORE_TIMEOUT)
        if self.main:
            token = uuid.uuid4().hex
            store = dist.TCPStore(host, 0, is_master=True, timeout=STORE_TIMEOUT)
            store.set("zoo/token", token)
            agent.set("zoo/store", f"{store.port} {token}")
            return store
        deadline = time.monotonic() + STORE_TIMEOUT.total_seconds()
        while time.monotonic() < deadline:
            served, token = agent.get("zoo/store").decode().split()
            with contextlib.suppress(RuntimeError):  # announced by a process that is gone
                store = dist.TCPStore(host, int(served), is_master=False, timeout=PROBE_TIMEOUT)
                if store.get("zoo/token").decode() == token:
                    store.set_timeout(STORE_TIMEOUT)
                    return store
            time.sleep(0.1)
        raise ZooError(f"rank 0 did not start the process group in {STORE_TIMEOUT}")

    def reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks."""
        if self.enabled:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether any rank says yes."""
        return bool(self.reduce(torch.tensor([float(flag)], device=device)).item() > 0)

    def share(self, make: Callable[[], Path]) -> Path:
        """Rank 0's ``make()`` on every rank, or its error on every rank (so that no rank waits
        for an answer that never comes)."""
        if not self.enabled:
            return make()
        answer: list[Any] = [None]
        if self.main:
            try:
                answer = [("path", str(make()))]
            except ZooError as exc:
                answer = [("error", str(exc))]
        dist.broadcast_object_list(answer, src=0)
        kind, text = answer[0]
        if kind == "error":
            raise ZooError(text)
        return Path(text)

    def stop(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


class StopSignal:
    """Ctrl-C once: finish the epoch, save, stop. Twice: stop now (the last checkpoint stays).
    A second Ctrl-C during a checkpoint write takes effect once the write is done."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console, self.quiet = console, quiet
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
            if not self.quiet:
                self.console.print(
                    "[yellow]stopping after this epoch (its checkpoint is saved); "
                    "Ctrl-C again to stop now[/yellow]"
                )
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
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def new_run_dir(out: Path, model: str, dataset: str) -> Path:
    """``out/<model>-<dataset>-<time>``, made unique with a suffix when needed."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model}-{dataset}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = out / f"{stem}-{stamp}" if attempt == 1 else out / f"{stem}-{stamp}-{attempt}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ZooError(f"cannot make a new run directory in {out}")


def job_run_dir(out: Path, job: str, config: TrainConfig) -> Path | None:
    """The newest run in ``out`` that torchrun job ``job`` started with this configuration."""
    wanted = json.loads(config.to_json())
    found = []
    for marker in out.glob(f"*/{JOB_FILE}"):
        try:
            started = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if started.get("job") == job and started.get("config") == wanted:
            found.append((started.get("time", 0), marker.parent))
    return max(found)[1] if found else None


def run_directory(config: TrainConfig, job: str | None, restart: int) -> Path:
    """A new run directory; after a torchrun restart, the one this torchrun job started (the
    restarted processes then resume it)."""
    out = Path(config.out)
    if job and restart:
        found = job_run_dir(out, job, config)
        if found is not None:
            return found
    path = new_run_dir(out, config.model, config.dataset)
    if job:
        write_json(path / JOB_FILE, {"job": job, "time": time.time(), "config": config.to_dict()})
    return path


def has_conv(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


class Trainer:
    """One training run, fresh or resumed."""

    def __init__(
        self, config: TrainConfig, console: Console, resume_dir: Path | None = None
    ) -> None:
        self.config, self.console, self.resume_dir = config, console, resume_dir
        if config.tensorboard:
            tensorboard.require()  # before any data is read
        self.board: tensorboard.Board | None = None
        self.distributed = Distributed()
        self.device = pick_device(config.device, self.distributed.local_rank)
        self.distributed.start(self.device)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.main = self.distributed.main
        seed_everything(config.seed)
        train_set = open_dataset(config.dataset, config.dataset_args, config.data_dir, train=True)
        description = describe(config.dataset, train_set)
        info = get_model_info(config.model)
        self.output = "regression" if description.task == "regression" else info.output
        self.objective = Objective(description.task, self.output, len(description.names))
        self.base = create_model(
            config.model,
            num_classes=len(description.names),
            input_shape=description.input_shape,
            **config.model_args,
        )
        self.objective.check_output(self.base, config.model, description.input_shape)
        self.initialised_from = self.initialise(len(description.names)) if config.weights else ""
        self.data: TrainingData = load_training_data(
            config, train_set, description, self.device, self.distributed.shard
        )
        description = self.data.description  # with mean and std
        self.channels_last = (
            description.image
            and has_conv(self.base)
            and (self.device.type == "cuda" or (self.device.type == "cpu" and CPU_CHANNELS_LAST))
        )
        self.base.to(self.device)
        if self.channels_last:
            self.base.to(memory_format=torch.channels_last)
        self.preprocess = Preprocess(
            description.preprocessing, self.device, self.channels_last, config.augment, config.seed
        )
        # what the epoch metrics are measured on: held-out items ("val"), or the test split
        # itself ("test"), whose numbers must not pick the weights a run keeps
        self.split = "val" if config.val_split else "test"
        self.optimizer = create_optimizer(
            config.optimizer, self.base.parameters(), lr=config.lr, **config.opt_args
        )
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=config.epochs)
            if config.scheduler == "cosine"
            else None
        )
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {}
        self.start_epoch = 0
        job, restart = self.distributed.job, self.distributed.restart
        self.run_dir = self.distributed.share(
            lambda: resume_dir or run_directory(config, job, restart)
        )
        if self.distributed.any(not self.run_dir.is_dir(), self.device):
            raise ZooError(
                f"the run directory {self.run_dir} is not visible to every process: with "
                "several nodes, --out must be a folder that all of them share"
            )
        self.restore(self.run_dir)  # a new run directory has no checkpoint yet
        self.model: torch.nn.Module = self.base
        if self.distributed.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.base, device_ids=ids)
        if config.compile:
            self.model = torch.compile(self.model)

    # -- state ------------------------------------------------------------------------------

    def initialise(self, classes: int) -> str:
        """Fine-tuning: start from ``--weights`` (a new head where the class count differs);
        what the cards record as ``initialised_from``."""
        from zoo.pretrained import load_into, new_head_message, open_weights

        pretrained = open_weights(self.config.model, str(self.config.weights))
        fresh = load_into(self.base, pretrained, classes)
        if self.main:
            self.console.print(f"initialised from {pretrained.origin}", highlight=False)
            if fresh:
                self.console.print(new_head_message(fresh, pretrained, classes), highlight=False)
        return pretrained.origin

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
                f"{run_dir} already finished its {self.config.epochs} epochs: "
                "pass --epochs N (more) to train further"
            )
        self.base.load_state_dict(checkpoint.weights)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
            self.scheduler.T_max = self.config.epochs
        set_rng_state(state["rng"])
        self.history = list(state["history"])
        self.best = dict(state["best"])
        self.start_epoch = checkpoint.epoch

    def card(self, epoch: int, metrics: dict[str, Any]) -> ModelCard:
        """What a checkpoint says about its weights besides the tensors."""
        config, description = self.config, self.data.description
        return ModelCard(
            model=config.model,
            preprocessing=description.preprocessing,
            classes=tuple(description.names),
            task=description.task,
            output=self.output,
            model_args=dict(config.model_args),
            dataset=config.dataset,
            dataset_args=dict(config.dataset_args),
            training=config.training_options(),
            seed=config.seed,
            epoch=epoch,
            metrics=metrics,
            evaluated_on=self.data.val_source,
            run=self.run_dir.name,
            initialised_from=self.initialised_from,
            zoo_version=zoo.__version__,
            torch_version=torch.__version__,
        )

    def training_state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng_state(),
            "history": self.history,
            "best": self.best,
        }

    # -- the run ----------------------------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if not self.config.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def run(self, on_epoch: EpochCallback | None = None) -> Outcome:
        """Train the remaining epochs; write the report at the end, however it ends."""
        if self.main:
            self.write_start()
            if self.config.tensorboard:
                self.board = tensorboard.Board.open(self)
        outcome = Outcome(self.run_dir, "finished", self.start_epoch)
        stop = StopSignal(self.console, quiet=not self.main)
        try:
            with stop:
                for epoch in range(self.start_epoch + 1, self.config.epochs + 1):
                    trouble = self.train_epoch(epoch)
                    if trouble:
                        outcome.status, outcome.message = "diverged", trouble
                        break
                    with stop.protect():  # a second Ctrl-C stops once the save is complete
                        self.end_epoch(epoch)
                        outcome.epoch = epoch
                    status = on_epoch(self.history[-1]) if on_epoch else None
                    if status and epoch < self.config.epochs:
                        outcome.status = status
                        break
                    if self.distributed.any(stop.requested, self.device):
                        if epoch < self.config.epochs:
                            outcome.status = "interrupted"
                        break
        except KeyboardInterrupt:
            outcome.status = "interrupted"
        finally:
            self.distributed.stop()
        outcome.history = self.history
        if self.main and self.history:
            self.write_report()
        if self.board is not None:
            self.board.close(self, outcome)
        return outcome

    def write_start(self) -> None:
        config, data = self.config, self.data
        write_text(self.run_dir / "config.json", config.to_json())
        write_text(self.run_dir / "config.toml", config.to_toml())
        lines = "".join(json.dumps(line) + "\n" for line in self.history)
        write_text(self.run_dir / "metrics.jsonl", lines)  # a resumed run's, rewritten
        verb = "resuming at epoch" if self.start_epoch else "training for"
        count = f"{self.start_epoch + 1} of {config.epochs}" if self.start_epoch else config.epochs
        world, batch = "", f"batch {config.batch_size}"
        if self.distributed.enabled:
            world = f" × {self.distributed.world} processes"
            batch += f" per process, {config.batch_size * self.distributed.world} in all"
        restart = self.distributed.restart
        again = f" (torchrun restart {restart})" if restart else ""
        self.console.print(
            f"[bold]{config.model}[/bold] on [bold]{config.dataset}[/bold] "
            f"({data.train.size:,} train items; validation: {data.val_source}) "
            f"on {self.device}{world}; {config.optimizer} lr {config.lr:g}, "
            f"{batch}; {verb} {count} epochs{again}",
            highlight=False,
            soft_wrap=True,
        )
        self.console.print(f"run directory: {self.run_dir}", highlight=False, soft_wrap=True)

    def train_epoch(self, epoch: int) -> str | None:
        """One pass over this rank's shard; a message if the loss stopped being finite."""
        self.model.train()
        self.preprocess.start_epoch(epoch, self.distributed.rank)
        split = self.data.train
        totals = torch.zeros(3, device=self.device)
        steps = split.steps(train=True)
        progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[speed]} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not (self.main and self.console.is_terminal),
            refresh_per_second=4,
        )
        label = f"{epoch}/{self.config.epochs}"
        started = self.epoch_started = time.perf_counter()
        with progress:
            task = progress.add_task("train", total=steps, epoch=label, loss="…", speed="…")
            for step, (inputs, targets) in enumerate(split.batches(epoch), 1):
                inputs = self.preprocess(inputs, train=True)
                with self.autocast():
                    output = self.model(inputs)
                    loss = self.objective.loss(output, targets)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                totals += self.objective.sums(output, targets, loss)
                if step % SYNC_EVERY == 0 or step == steps:
                    loss_sum, _, count = totals.tolist()
                    if not self.distributed.enabled and not math.isfinite(loss_sum):
                        return self.diverged(epoch, step)
                    speed = count * self.distributed.world / (time.perf_counter() - started)
                    progress.update(
                        task, completed=step, loss=f"{loss_sum / count:.4f}", speed=f"{speed:,.0f}"
                    )
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
        """Validate, record the epoch's metrics, save checkpoints, print the summary line."""
        val = evaluate(
            self.base,
            self.data.val,
            self.preprocess,
            self.objective,
            self.autocast,
            self.distributed.reduce,
        )
        if self.scheduler is not None:
            self.scheduler.step()
        loss_sum, second, count = self.train_totals.tolist()
        metric, split = self.objective.metric, self.split
        metrics = {
            "epoch": epoch,
            "train_loss": loss_sum / count,
            f"train_{metric}": second / count,
            f"{split}_loss": val.loss,
            f"{split}_{metric}": val.metric,
            "train_items": int(count),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - self.epoch_started, 3),
            "train_seconds": round(self.train_seconds, 3),
            "images_per_second": round(count / self.train_seconds, 1),
        }
        self.history.append(metrics)
        kept = self.keeps(val)
        if kept:
            self.best = {"epoch": epoch, "metric": f"{split}_{metric}", "value": val.metric}
            self.best.update(self.evaluation_details(val))
        if self.main:
            with open(self.run_dir / "metrics.jsonl", "a") as file:
                file.write(json.dumps(metrics) + "\n")
            if self.board is not None:  # before the checkpoint: a resume purges what it repeats
                self.board.epoch(metrics, val)
            weights, card = self.base.state_dict(), self.card(epoch, metrics)
            if kept and split == "val":
                save_checkpoint(self.run_dir, "best", weights, card)
            save_checkpoint(self.run_dir, "last", weights, card, self.training_state(epoch))
            best = kept and split == "val"
            line = report.epoch_line(metrics, self.config.epochs, best)
            self.console.print(line, highlight=False, soft_wrap=True)

    def keeps(self, val: Evaluation) -> bool:
        """Whether this epoch's weights are the ones the run keeps: the best so far on held-out
        validation items; when validating on the test split, always the latest (choosing by test
        accuracy would make the reported test accuracy optimistic)."""
        if not self.best or self.split == "test":
            return True
        if self.objective.regression:
            return val.metric < self.best["value"]
        return val.metric > self.best["value"]

    @staticmethod
    def evaluation_details(val: Evaluation) -> dict[str, Any]:
        if val.confusion is not None:
            return {"confusion": val.confusion}
        return {"target_mse": val.target_mse, "target_mae": val.target_mae}

    def write_report(self) -> None:
        description = self.data.description
        report.write_run_report(self.run_dir, self.history, self.best, description, self.console)


def train(
    config: TrainConfig,
    console: Console,
    resume_dir: Path | None = None,
    on_epoch: EpochCallback | None = None,
) -> Outcome:
    """Run (or resume) training as configured."""
    return Trainer(config, console, resume_dir).run(on_epoch)
