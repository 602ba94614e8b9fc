"""Conformance checks for plugin entries: the engine of ``zoo check``. A plugin's own pytest suite
imports them as :mod:`zoo.testing` (the documented name, like ``numpy.testing``)::

    from zoo.testing import check_model

def test_my_model_conforms():
    check_model("my-net", input_shape=(3, 32, 32), num_classes=10).raise_for_failures()
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError, first_line
from zoo.registry import get_registry


@dataclass
class Check:
    """One item of the checklist."""

    title: str
    passed: bool | None  # None: skipped because an earlier step failed
    detail: str = ""


@dataclass
class Report:
    """The checklist for one entry."""

    kind: str
    name: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def run(self, title: str, step: Callable[[], str | None]) -> bool:
        """Run a step unless an earlier one failed; record its outcome."""
        if any(c.passed is False for c in self.checks):
            self.checks.append(Check(title, None, "skipped: an earlier check failed"))
            return False
        try:
            self.checks.append(Check(title, True, step() or ""))
            return True
        except AssertionError as exc:
            self.checks.append(Check(title, False, str(exc) or "assertion failed"))
        except Exception as exc:  # the plugin's own errors, reported as one line
            self.checks.append(
                Check(title, False, first_line(exc) if not isinstance(exc, ZooError) else str(exc))
            )
        return False

    def raise_for_failures(self) -> None:
        """Raise AssertionError listing every failed check (for a plugin author's pytest)."""
        failed = [f"{c.title}: {c.detail}" for c in self.checks if c.passed is False]
        if failed:
            raise AssertionError(
                f"{self.kind} '{self.name}' failed zoo's checks: " + "; ".join(failed)
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "passed": self.passed,
            "checks": [c.__dict__ for c in self.checks],
        }


@dataclass
class ModelCheck:
    """The steps of :func:`check_model`, sharing what the earlier ones built."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    model_args: dict[str, Any]
    model: Any = None

    def build_one(self) -> Any:
        from zoo.factory import build_model

        return build_model(
            self.name, num_classes=self.num_classes, input_shape=self.input_shape, **self.model_args
        )

    def load(self) -> str:
        entry = get_registry().resolve("model", self.name)
        entry.load()
        return f"{entry.target} from {entry.source}"

    def metadata(self) -> str:
        """Its zoo_info: the recipe, the output kind, every weights declaration."""
        from zoo.registry import get_model_info

        info = get_model_info(self.name)
        assert info.output in ("logits", "log_probs", "regression"), (
            f"unknown output kind '{info.output}'"
        )
        weights = ", ".join(w.name for w in info.weights) or "none"
        return f"output {info.output}; weights declared: {weights}"

    def build(self) -> str:
        self.model = self.build_one()
        return f"for input {tuple(self.input_shape)} and {self.num_classes} outputs"

    def forward_backward(self) -> str:
        import torch

        model = self.model.train()
        output = model(torch.rand(4, *self.input_shape))
        assert isinstance(output, torch.Tensor), (
            f"forward returned {type(output).__name__}, not a tensor"
        )
        assert tuple(output.shape) == (4, self.num_classes), (
            f"output shape {tuple(output.shape)}, expected (4, {self.num_classes})"
        )
        assert torch.isfinite(output).all(), "output has NaN or infinite values"
        output.float().sum().backward()
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert trainable, "the model has no trainable parameters"
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable), (
            "no gradient reached the parameters"
        )
        count = sum(p.numel() for p in trainable)
        return f"output {tuple(output.shape)}, {count:,} trainable parameters"

    def round_trip(self) -> str:
        import torch
        from safetensors.torch import load_file, save_file

        model = self.model.eval()
        batch = torch.rand(4, *self.input_shape)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "weights.safetensors"
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
            fresh = self.build_one()
            fresh.load_state_dict(load_file(str(path)))
        fresh.eval()
        with torch.no_grad():
            assert torch.equal(model(batch), fresh(batch)), (
                "a model rebuilt from the saved weights answers differently"
            )
        return "save_file / load_file / load_state_dict give identical outputs"


def check_model(
    name: str,
    input_shape: tuple[int, ...] = (3, 32, 32),
    num_classes: int = 10,
    model_args: dict[str, Any] | None = None,
    export: bool = True,
) -> Report:
    """Load, check its metadata, build, train a step, round-trip the weights and export a model
    entry."""
    report = Report("model", name)
    steps = ModelCheck(name, tuple(input_shape), num_classes, dict(model_args or {}))
    report.run("entry loads", steps.load)
    report.run("metadata (zoo_info and weights declarations) is valid", steps.metadata)
    report.run("model builds", steps.build)
    report.run("forward and backward pass", steps.forward_backward)
    report.run("state dict round trip through safetensors", steps.round_trip)
    if export:
        _check_exports(report, name, tuple(input_shape), num_classes, model_args or {})
    return report


def _check_exports(
    report: Report,
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    model_args: dict[str, Any],
) -> None:
    """Each format written, checked and run against eager PyTorch on random inputs."""
    from zoo.export import options, pipeline, samples
    from zoo.export.formats import FORMATS
    from zoo.sources import SourceRequest

    state: dict[str, Any] = {}

    def export(fmt: str) -> Callable[[], str]:
        def step() -> str:
            if "source" not in state:
                request = SourceRequest(
                    spec=name,
                    input_shape=input_shape,
                    num_classes=num_classes,
                    model_args=model_args,
                )
                state["source"] = request.resolve()
            preprocessing = state["source"].preprocessing
            inputs = samples.random_samples(preprocessing, 8, 0, "a conformance check")
            with tempfile.TemporaryDirectory() as tmp:
                request = options.ExportRequest(formats=(fmt,))
                manifest = pipeline.export(state["source"], Path(tmp) / fmt, request, inputs)
            parity = manifest.files[0].verification
            top1 = parity.top1_agreement
            return f"max |a-b| {parity.max_abs:.2g}" + (
                f", top-1 agreement {top1:.0%}" if top1 is not None else ""
            )

        return step

    for fmt in FORMATS.values():
        report.run(f"{fmt.title} export matches eager", export(fmt.name))


def check_dataset(
    name: str, root: str | Path | None = None, dataset_args: dict[str, Any] | None = None
) -> Report:
    """Build a dataset entry for both splits and check its items and ``classes``."""
    from zoo.factory import create_dataset
    from zoo.registry import get_dataset_info

    report = Report("dataset", name)
    state: dict[str, Any] = {}

    def load() -> str:
        entry = get_registry().resolve("dataset", name)
        entry.load()
        state["info"] = get_dataset_info(name)
        return f"{entry.target} from {entry.source}"

    def build(train: bool) -> Callable[[], str]:
        def step() -> str:
            dataset = create_dataset(name, root=root, train=train, **(dataset_args or {}))
            state[train] = dataset
            assert hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__"), (
                "not a map-style dataset"
            )
            assert len(dataset) > 0, "the dataset is empty"
            return f"{len(dataset):,} items"

        return step

    def items() -> str:
        import torch

        dataset = state[True]
        regression = state["info"].task == "regression"
        classes = getattr(dataset, "classes", None)
        if not regression:
            assert isinstance(classes, (list, tuple)) and classes, "no `classes` list"
        for index in sorted({0, len(dataset) // 2, len(dataset) - 1}):
            item = dataset[index]
            assert isinstance(item, tuple) and len(item) == 2, (
                f"item {index} is not a (input, label) pair"
            )
            sample, label = item
            assert isinstance(sample, torch.Tensor) or hasattr(sample, "getbands"), (
                f"item {index}'s input is a {type(sample).__name__}, not a PIL image or tensor"
            )
            if not regression:
                assert isinstance(label, int) and 0 <= label < len(classes), (
                    f"item {index}'s label {label!r} is not an int class index"
                )
        return f"{len(classes)} classes" if classes else "regression targets"

    report.run("entry loads", load)
    report.run("train split builds", build(True))
    report.run("test split builds", build(False))
    report.run("items are (PIL image or tensor, int label) with a classes list", items)
    return report


def check_optimizer(name: str, opt_args: dict[str, Any] | None = None, lr: float = 0.05) -> Report:
    """Build an optimizer entry and check that its steps lower a small least-squares loss."""
    import torch

    from zoo.factory import create_optimizer

    report = Report("optimizer", name)
    state: dict[str, Any] = {}

    def load() -> str:
        entry = get_registry().resolve("optimizer", name)
        entry.load()
        return f"{entry.target} from {entry.source}"

    def build() -> str:
        generator = torch.Generator().manual_seed(0)
        state["x"] = torch.randn(64, 4, generator=generator)
        state["y"] = state["x"] @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        state["w"] = torch.zeros(4, requires_grad=True)
        state["optimizer"] = create_optimizer(name, [state["w"]], lr=lr, **(opt_args or {}))
        assert isinstance(state["optimizer"], torch.optim.Optimizer), "not a torch.optim.Optimizer"
        return type(state["optimizer"]).__name__

    def lowers_loss() -> str:
        optimizer, w, x, y = state["optimizer"], state["w"], state["x"], state["y"]
        losses = []
        for _ in range(50):
            optimizer.zero_grad()
            loss = ((x @ w - y) ** 2).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.5 * losses[0], (
            f"loss went from {losses[0]:.3f} to {losses[-1]:.3f} in 50 steps"
        )
        return f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in 50 steps"

    report.run("entry loads", load)
    report.run("optimizer builds", build)
    report.run("steps lower the loss of a small problem", lowers_loss)
    return report
