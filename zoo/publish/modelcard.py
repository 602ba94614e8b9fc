"""A release's ``README.md``: a model card in the Hugging Face Hub's format.

YAML metadata first (``library_name``, tags, datasets, ``license``, ``model-index`` with the
task, dataset, split, metric and value, which the Hub and ``huggingface_hub`` read), then the
body: what the model is, its metrics as measured again at publish time with their sample size
and 95 % interval, the per-class table, the training curves and confusion matrix, the exact
training command and recipe, preprocessing, how to use it, the parity certificate of each ONNX
file, versions, and its limitations. The YAML is written by hand from plain data (strings as
JSON, which YAML reads): no YAML library is needed to publish.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.artifacts.card import PIL_MODES, ModelCard
from zoo.artifacts.config import TrainConfig
from zoo.artifacts.manifest import Manifest, ManifestFile
from zoo.artifacts.run import METRICS, DetailRow, metric_text
from zoo.meta import Weights
from zoo.weights.releases import HubRepo

LIBRARY = "torch-zoo"


@dataclass(frozen=True)
class ReleaseMetrics:
    """The metrics ``zoo publish`` measured again, on the declared split, with the published file."""

    metric: str  # accuracy or mae
    value: float
    loss: float
    items: int
    split: str
    source: str  # "test split", as zoo eval names it
    interval: tuple[float, float] | None  # Wilson 95 % for accuracy; None for mae
    rows: list[DetailRow]  # per class (or per target)
    date: str


@dataclass(frozen=True)
class CardFacts:
    """Everything the card says, gathered by :mod:`zoo.publish.release`."""

    model: str
    description: str
    source: str  # the distribution that registers the model, with its version
    declaration: Weights
    card: ModelCard
    file_bytes: int
    parameters: int
    measured: ReleaseMetrics
    manifest: Manifest
    command: str
    training: TrainConfig  # the options that trained the weights
    trained_on: str  # "1,198 items of digits' train split (240 held out for validation)"
    kept: str  # "epoch 9 of 10 (best on the held-out items)"
    plots: list[tuple[str, str]]  # (path in the release, caption)
    limitations: list[str]
    license: str | None = None
    repo: HubRepo | None = None
    extra: dict[str, str] = field(default_factory=dict)


def task_tag(card: ModelCard) -> str:
    """The Hub's pipeline tag for what the model does."""
    kind = "image" if card.preprocessing.image else "tabular"
    return f"{kind}-{'regression' if card.regression else 'classification'}"


def metadata(facts: CardFacts) -> dict[str, Any]:
    """The YAML metadata block, as data."""
    card, measured, tag = facts.card, facts.measured, task_tag(facts.card)
    dataset: dict[str, Any] = {"name": card.dataset, "type": card.dataset, "split": measured.split}
    if card.dataset_args:
        dataset["args"] = dict(card.dataset_args)
    metrics = [
        {
            "type": measured.metric,
            "value": round(measured.value, 6),
            "name": f"{measured.split} {measured.metric}",
            "verified": False,
        }
    ]
    data: dict[str, Any] = {"library_name": LIBRARY}
    if facts.license:
        data["license"] = facts.license
    data |= {
        "tags": ["zoo", "pytorch", "safetensors", "onnx", tag, facts.model],
        "datasets": [card.dataset],
        "metrics": [measured.metric],
    }
    if tag != "image-regression":
        data["pipeline_tag"] = tag
    task = {"type": tag, "name": tag.replace("-", " ").capitalize()}
    name = f"{facts.model}-{facts.declaration.name}"
    data["model-index"] = [
        {"name": name, "results": [{"task": task, "dataset": dataset, "metrics": metrics}]}
    ]
    return data


def yaml_lines(value: Any, indent: int = 0) -> list[str]:
    """Block YAML for nested dicts and lists of dicts; every other value as JSON (valid YAML)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, list):
        for item in value:
            inner = yaml_lines(item, indent + 1)
            lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
        return lines
    for key, item in value.items():
        if isinstance(item, dict) and item:
            lines += [f"{pad}{key}:", *yaml_lines(item, indent + 1)]
        elif isinstance(item, list) and item and all(isinstance(i, dict) for i in item):
            lines += [f"{pad}{key}:", *yaml_lines(item, indent)]
        else:
            lines.append(f"{pad}{key}: {json.dumps(item)}")
    return lines


def render(facts: CardFacts) -> str:
    """The whole README.md."""
    sections = [
        ["---", *yaml_lines(metadata(facts)), "---", ""],
        overview(facts),
        metrics_section(facts),
        training_section(facts),
        preprocessing_section(facts),
        usage_section(facts),
        certificate_section(facts),
        versions_section(facts),
        ["## Limitations", "", *(f"- {line}" for line in facts.limitations), ""],
    ]
    return "\n".join(line for section in sections for line in section)


def size_text(count: int) -> str:
    """``1.23 MB``, ``12.3 kB``."""
    return f"{count / 1e6:.2f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def overview(facts: CardFacts) -> list[str]:
    card, weights = facts.card, facts.declaration
    kind = "regression" if card.regression else f"classification into {len(card.classes)} classes"
    return [
        f"# {facts.model}: weights '{weights.name}'",
        "",
        facts.description or f"The zoo model `{facts.model}`.",
        "",
        f"Trained with [zoo](https://pypi.org/project/{LIBRARY}/) on `{card.dataset}`, "
        f"{kind}. Published with `zoo publish`, which measured the metrics below again with "
        "this very file and verified the ONNX export against PyTorch.",
        "",
        "| | |",
        "|---|---|",
        f"| model | `{facts.model}` ({facts.source}) |",
        f"| weights | `{weights.file}`, {size_text(facts.file_bytes)}, {facts.parameters:,} "
        "parameters |",
        f"| sha256 | `{weights.sha256}` |",
        f"| input | {shape_text(card.input_shape)} |",
        f"| outputs | {card.output_kind}: {', '.join(card.classes[:12])}"
        + (" …" if len(card.classes) > 12 else "")
        + " |",
        f"| trained on | {facts.trained_on} |",
        "",
    ]


def metrics_section(facts: CardFacts) -> list[str]:
    measured = facts.measured
    kind = METRICS.get(measured.metric)
    value = kind.value_text(measured.value) if kind else f"{measured.value:.4f}"
    if measured.interval is not None:
        low, high = measured.interval
        interval = f"{100 * low:.2f}–{100 * high:.2f} % (Wilson)"
    else:
        interval = "not computed (zoo records the mean absolute error only)"
    lines = [
        "## Metrics",
        "",
        f"Measured by `zoo publish` on {measured.date} with the published file (sha256 above), "
        f"on the {measured.source} of `{facts.card.dataset}`: not copied from the training log.",
        "",
        "| metric | value | 95 % interval | items |",
        "|---|---|---|---|",
        f"| {measured.metric} | {value} | {interval} | {measured.items:,} |",
        f"| loss | {measured.loss:.4f} | | {measured.items:,} |",
        "",
    ]
    if measured.rows:
        table = [row.to_json() for row in measured.rows]
        columns = list(table[0])
        lines += [
            "Per class:" if "class" in columns else "Per target:",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *("| " + " | ".join(cell(row[c], c) for c in columns) + " |" for row in table),
            "",
        ]
    lines += [f"![{caption}]({path})\n\n*{caption}*\n" for path, caption in facts.plots]
    return lines


def cell(value: Any, column: str) -> str:
    if value is None:
        return "–"
    if column == "accuracy" and isinstance(value, float):
        return f"{100 * value:.2f} %"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def training_section(facts: CardFacts) -> list[str]:
    shown = {
        key: value
        for key, value in facts.training.training_options().items()
        if value not in (None, {}, []) and key not in ("dataset",)
    }
    return [
        "## Training",
        "",
        "The exact command (`zoo train`, with every option the run recorded):",
        "",
        "```bash",
        facts.command,
        "```",
        "",
        f"Kept weights: {facts.kept}. Recipe:",
        "",
        "| option | value |",
        "|---|---|",
        *(f"| {key.replace('_', ' ')} | `{json.dumps(value)}` |" for key, value in shown.items()),
        "",
    ]


def preprocessing_section(facts: CardFacts) -> list[str]:
    pre = facts.card.preprocessing
    if pre.image:
        channels, height, width = pre.input_shape
        how = (
            f"Images are converted to {PIL_MODES.get(channels, channels)} ({channels} channel"
            f"{'s' if channels > 1 else ''}), resized to {width}×{height} ({pre.resize}) when "
            f"they differ, then `(pixels / 255 - mean) / std` per channel"
        )
    else:
        how = f"Rows of {pre.input_shape[0]} features become `(features - mean) / std`"
    return [
        "## Preprocessing",
        "",
        f"{how}, with mean `{list(pre.mean or (0.0,))}` and std `{list(pre.std or (1.0,))}`. The "
        "card inside the safetensors and ONNX files records the same values; `zoo predict` "
        "applies them for you.",
        "",
    ]


def usage_section(facts: CardFacts) -> list[str]:
    weights, sample = facts.declaration, "image.png" if facts.card.preprocessing.image else "1,2,3"
    lines = ["## How to use it", "", "```bash"]
    if facts.repo is not None:
        spec = facts.repo.spec
        lines += [
            f"zoo predict {spec} {sample}    # ONNX Runtime only, no PyTorch",
            f"zoo eval {spec}                 # measure it again on its own test split",
            f"zoo export {spec} --onnx",
        ]
    lines += [
        f"zoo predict {facts.model} {sample} --weights {weights.name}   # with the plugin "
        "that declares it installed",
        f"zoo predict RELEASE_FOLDER {sample}   # this folder is a verified 'zoo export' directory",
        "zoo verify RELEASE_FOLDER              # check every file and its certificate again",
        "```",
        "",
        "```python",
        "import zoo",
        "",
    ]
    if facts.repo is not None:
        lines.append(f'model = zoo.create_model("{facts.repo.spec}").eval()')
    lines += [
        f'model = zoo.create_model("{facts.model}", weights="{weights.name}").eval()',
        "```",
        "",
        *onnx_snippet(facts),
    ]
    return lines


def onnx_snippet(facts: CardFacts) -> list[str]:
    """ONNX Runtime alone, preprocessing by hand, for machines without zoo."""
    pre, onnx = facts.card.preprocessing, facts.manifest.file("onnx")
    if not pre.image or onnx is None:
        return []
    channels, height, width = pre.input_shape
    return [
        "Without zoo, with ONNX Runtime and Pillow:",
        "",
        "```python",
        "import numpy as np, onnxruntime as ort",
        "from PIL import Image",
        "",
        f'session = ort.InferenceSession("{onnx.path}")',
        f'image = Image.open("image.png").convert("{PIL_MODES.get(channels, "RGB")}")'
        f".resize(({width}, {height}))",
        f"x = np.asarray(image, np.float32).reshape({height}, {width}, {channels}) / 255",
        f"x = (x - np.array({list(pre.mean or (0.0,))})) / np.array({list(pre.std or (1.0,))})",
        "x = x.transpose(2, 0, 1)[None].astype(np.float32)",
        "outputs = session.run(None, {session.get_inputs()[0].name: x})[0]",
        "```",
        "",
    ]


def certificate_section(facts: CardFacts) -> list[str]:
    manifest = facts.manifest
    lines = [
        "## Parity certificate",
        "",
        f"Every ONNX file was run on {manifest.inputs} and compared with eager PyTorch; the "
        "certificate (inside each file and in `manifest.json`) records what it proved. "
        "`zoo verify RELEASE_FOLDER` runs the same check again.",
        "",
        "| file | precision | size | max abs diff | top-1 agreement | top-1 accuracy | passed |",
        "|---|---|---|---|---|---|---|",
        *(file_row(entry) for entry in manifest.files),
        "",
    ]
    first = manifest.files[0].certificate if manifest.files else None
    if first is not None:
        machine = first.machine.get("cpu", "") if isinstance(first.machine, Mapping) else ""
        lines += [
            f"Rule: {first.parity.tolerance}. Runtime: {first.runtime}; CPU: {machine}. "
            f"Inputs: {first.inputs}; the stored inputs and outputs (`verification.npz`) have "
            f"sha256 `{first.checks_sha256[:16]}…`.",
            "",
        ]
    return lines


def file_row(entry: ManifestFile) -> str:
    parity, accuracy = entry.verification, entry.facts.accuracy
    agreement = "–" if parity.top1_agreement is None else f"{parity.top1_agreement:.2%}"
    top1 = "–" if accuracy is None or accuracy.top1 is None else f"{accuracy.top1:.2%}"
    if accuracy is not None and accuracy.top1 is not None:
        top1 += f" (n={accuracy.samples:,})"
    return (
        f"| `{entry.path}` | {entry.precision} | {size_text(entry.bytes)} | "
        f"{parity.max_abs:.2e} | {agreement} | {top1} | {'yes' if parity.passed else 'no'} |"
    )


def versions_section(facts: CardFacts) -> list[str]:
    first = facts.manifest.files[0].certificate if facts.manifest.files else None
    versions = dict(first.versions) if first is not None else {}
    versions |= {"python": platform.python_version()}
    trained = f"trained with zoo {facts.card.zoo_version}, torch {facts.card.torch_version}"
    return [
        "## Versions",
        "",
        ", ".join(f"{name} {version}" for name, version in versions.items())
        + f" (published); {trained}.",
        "",
    ]


def headline(measured: ReleaseMetrics) -> str:
    """``accuracy 95.26 % (95 % CI 92.5–97.0 %, n=359) on the test split``."""
    text = metric_text(measured.metric, measured.value)
    if measured.interval is not None:
        low, high = measured.interval
        text += f" (95 % CI {100 * low:.1f}–{100 * high:.1f} %, n={measured.items:,})"
    else:
        text += f" (n={measured.items:,})"
    return f"{text} on the {measured.source}"
