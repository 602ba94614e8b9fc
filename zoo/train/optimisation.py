"""What steps the weights: the optimizer over parameter groups (their own learning rate or weight
decay, by name pattern), the learning-rate schedule (per epoch, or per step: airbench's linear
warm-up and decay, one-cycle), and the average of the weights that validation and checkpoints
use (an exponential moving average, or airbench's lookahead)."""

from __future__ import annotations

import contextlib
import fnmatch
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from zoo.artifacts.config import TrainConfig
from zoo.errors import ArgumentError
from zoo.factory import create_optimizer

PER_STEP = ("linear", "onecycle")
TRAIN_EPOCHS = "train_epochs"  # a parameter group's own key: it trains in these first epochs


def parameter_groups(
    model: torch.nn.Module, groups: dict[str, dict[str, float]]
) -> tuple[list[dict[str, Any]], list[dict[str, float]]]:
    """The model's parameters split by the first pattern their name matches (the rest last),
    and each group's settings (lr_scale, decay_scale, epochs); a pattern that matches nothing is an
    error (a typo would silently train everything alike)."""
    named = list(model.named_parameters())
    taken: set[str] = set()
    params: list[dict[str, Any]] = []
    scales: list[dict[str, float]] = []
    for pattern, scale in groups.items():
        members = [p for n, p in named if n not in taken and fnmatch.fnmatchcase(n, pattern)]
        names = {n for n, _ in named if n not in taken and fnmatch.fnmatchcase(n, pattern)}
        if not members:
            raise ArgumentError(f"--param-group '{pattern}' matches no parameter of the model")
        taken |= names
        params.append({"params": members})
        scales.append(dict(scale))
    rest = [p for n, p in named if n not in taken]
    if rest:
        params.append({"params": rest})
        scales.append({})
    return params, scales


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The configured optimizer; parameter groups get their scaled learning rate and decay."""
    if not config.param_groups:
        return create_optimizer(
            config.optimizer, model.parameters(), lr=config.lr, **config.opt_args
        )
    params, scales = parameter_groups(model, config.param_groups)
    optimizer = create_optimizer(config.optimizer, params, lr=config.lr, **config.opt_args)
    for group, scale in zip(optimizer.param_groups, scales, strict=True):
        group["lr"] = group["lr"] * scale.get("lr_scale", 1.0)
        if "weight_decay" in group:
            group["weight_decay"] = group["weight_decay"] * scale.get("decay_scale", 1.0)
        if "epochs" in scale:
            group[TRAIN_EPOCHS] = scale["epochs"]
    return optimizer


def resting(optimizer: torch.optim.Optimizer, epoch: int) -> list[torch.Tensor]:
    """The parameters of groups that train in their first ``epochs`` only, once ``epoch`` is
    past them (airbench freezes its whitening bias after 3). The loop drops their gradients
    before each step, so the optimizer leaves them alone, momentum and decay included; unlike
    ``requires_grad``, that works the same under DistributedDataParallel."""
    return [
        parameter
        for group in optimizer.param_groups
        if epoch > group.get(TRAIN_EPOCHS, math.inf)
        for parameter in group["params"]
    ]


def step_factor(config: TrainConfig, total: int) -> Callable[[int], float]:
    """The learning rate at step ``t`` (from 0) as a share of each group's own, for the per-step
    schedules: ``linear`` rises from lr_start to 1 over the warm-up share of the steps, then falls
    to lr_end by the last; ``onecycle`` the same on half-cosines."""
    warm = max(1, int(total * config.warmup)) if config.warmup else 0
    start, end = config.lr_start, config.lr_end

    def shape(fraction: float) -> float:
        return fraction if config.scheduler == "linear" else (1 - math.cos(math.pi * fraction)) / 2

    def factor(t: int) -> float:
        if t < warm:
            return start + (1 - start) * shape(t / warm)
        fraction = min(1.0, (t - warm) / max(1, total - warm))
        return 1 + (end - 1) * shape(fraction)

    return factor


def make_scheduler(
    config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Cosine per epoch, a per-step schedule, or none."""
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler in PER_STEP:
        total = config.epochs * steps_per_epoch
        return torch.optim.lr_scheduler.LambdaLR(optimizer, step_factor(config, total))
    return None


class WeightAverage:
    """An exponential moving average of every floating-point tensor of the model's state (the
    weights and BatchNorm's running statistics), updated every ``every`` steps. With
    ``lookahead`` the model jumps to the average after each update and the decay grows with the
    cube of the training done, as airbench94's lookahead does."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig, total_steps: int) -> None:
        self.decay, self.every, self.lookahead = config.ema, config.ema_every, config.lookahead
        self.total = max(1, total_steps)
        self.state = {
            key: value.detach().clone()
            for key, value in model.state_dict().items()
            if value.dtype.is_floating_point
        }

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """After optimizer step ``step`` (from 1)."""
        last = step >= self.total
        if step % self.every and not last:
            return
        decay = self.decay * (step / self.total) ** 3 if self.lookahead else self.decay
        if self.lookahead and last:  # the last step: the weights take the average as it is
            decay = 1.0
        live = model.state_dict()
        for key, average in self.state.items():
            average.lerp_(live[key], 1 - decay)
            if self.lookahead:
                live[key].copy_(average)

    @contextlib.contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The model holds the average inside the block (validation), its own weights after."""
        own = {key: value.detach().clone() for key, value in model.state_dict().items()}
        model.load_state_dict(self.weights(model))
        try:
            yield
        finally:
            model.load_state_dict(own)

    def weights(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """The model's state with the averaged tensors in place of its own."""
        return {**model.state_dict(), **self.state}

    def load(self, weights: dict[str, torch.Tensor]) -> None:
        """Restore the average (a resumed run: the checkpoint keeps it)."""
        for key, average in self.state.items():
            average.copy_(weights[key])
