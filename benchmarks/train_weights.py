"""Train zoo's built-in weights, ship them in the package, and write their declarations.

    python3 ../shared/data/cifar10/jpeg_pack.py unpack ../shared/data/cifar10/cifar10-jpg.pack /tmp/cifar10
    .venv/bin/python benchmarks/train_weights.py --data-dir /tmp/cifar10
    .venv/bin/python benchmarks/train_weights.py --models mnist-mlp3      # one model again

For each model: `zoo train` with the command in WEIGHTS (the model's recipe and the deviations
named there), its kept checkpoint copied to zoo/models/weights/MODEL-NAME.safetensors, `zoo eval`
of that file on the test split, what it measured (and the test-time augmentation it measured
with) stamped into the file's card, and the declaration (file, sha256, name and a note with the
command) written to zoo/models/weights/weights.json, which the models'
`model_info(weights=weights_index(...))` read. Everything else about the weights is the card's.
`zoo eval MODEL --weights default` reproduces the recorded metrics (tests/test_weights.py checks
it for the weights whose data ships with zoo). `--reuse MODEL=RUN_DIR` takes a finished run of
the same command instead of training again (its config.json is checked against the command).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import zoo
from zoo.files import atomic_write, sha256_file, write_json

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "zoo" / "models" / "weights"
INDEX = FOLDER / "weights.json"
DATA_DIR = "/tmp/cifar10"  # as the commands are recorded; --data-dir says where it is here
CIFAR_JPEGS = (
    "the CIFAR-10 JPEG copy (CIFAR-10 as JPEG files in class folders, 50,000 train and 10,000 "
    "test images: train/<class>/*.jpg and test/<class>/*.jpg, read with -d imagefolder)"
)


@dataclass(frozen=True)
class Spec:
    """One shipped file: the model, its weights name, and how it is trained."""

    model: str
    name: str
    dataset: str
    flags: tuple[str, ...] = ()
    note: str = ""
    needs_data_dir: bool = False
    half: bool = False  # shipped in float16 (half the size; eval measures the float16 file)
    tta: str = "none"  # the test-time augmentation the metric is measured with
    seed: int = 0
    checked: dict[str, object] = field(
        default_factory=dict
    )  # config.json values a reused run needs

    def command(self, data_dir: str = DATA_DIR) -> list[str]:
        where = ["--data-dir", data_dir] if self.needs_data_dir else []
        device = ["--device", "cpu", "--seed", str(self.seed)]
        return ["zoo", "train", self.model, "-d", self.dataset, *where, *device, *self.flags]


MNIST_5K = (
    "Trained on mnist-5k, the 5,000 MNIST digits bundled with zoo: {train} of its 4,000 training "
    "digits ({held} held out to pick the best epoch), not MNIST's 60,000; tested on its 1,000 "
    "test digits. Expect lower accuracy than on full MNIST."
)
WEIGHTS = (
    Spec(
        "cifar10-cnn",
        "cifar10",
        "imagefolder",
        ("--scheduler", "cosine"),
        note=f"Trained on {CIFAR_JPEGS}. Recipe as published (Adam 1e-3, batch 25, 20 epochs, "
        "mean/std 0.5) with one deviation: --scheduler cosine (the learning rate annealed to 0 "
        "by the last epoch), which steadies the last epoch (the tutorial's constant rate "
        "averages 71.7 % over five seeds). The last epoch's weights (the run validated on the "
        "test split, so no epoch was picked by test accuracy).",
        needs_data_dir=True,
        checked={"scheduler": "cosine", "epochs": 20, "lr": 0.001, "batch_size": 25},
    ),
    Spec(
        "cifar10-tinycnn",
        "cifar10",
        "imagefolder",
        note=f"Trained on {CIFAR_JPEGS}, with the published recipe (Adam 1e-3, batch 32, 4 "
        "epochs); the last epoch's weights.",
        needs_data_dir=True,
        checked={"scheduler": "none", "epochs": 4, "lr": 0.001, "batch_size": 32},
    ),
    Spec(
        "mnist-logreg",
        "mnist-5k",
        "mnist-5k",
        ("--epochs", "150"),
        note=MNIST_5K + " One deviation from the published recipe (SGD lr 1e-3, 10 epochs): "
        "150 epochs, about as many optimiser steps as the tutorial's 10 epochs over 50,000 "
        "images; 10 epochs on these 3,333 digits reach only 47.6 % test accuracy.",
        checked={"epochs": 150},
    ),
    Spec("mnist-mlp", "mnist-5k", "mnist-5k", note=MNIST_5K),
    Spec(
        "mnist-mlp3",
        "mnist-5k",
        "mnist-5k",
        ("--opt-arg", "momentum=0.9"),
        note=MNIST_5K.replace(" ({held} held out to pick the best epoch)", "")
        + " One deviation from the published recipe (mean/std 0.5, plain SGD lr 0.003, batch 64, "
        "5 epochs): momentum 0.9. Without it, 5 epochs on 4,000 digits reach only 41.4 % test "
        "accuracy (benchmarks/recipe_check.py).",
        checked={"opt_args": {"momentum": 0.9}, "epochs": 5},
    ),
    Spec(
        "cifar10-fast",
        "cifar10",
        "imagefolder",
        note=f"Trained on {CIFAR_JPEGS} with airbench94's recipe as zoo states it (its "
        "deviations: zoo info cifar10-fast, recipe note), bf16 autocast on a CPU with native "
        "bf16; the lookahead weights of the last epoch, stored in float16. The metric is with "
        "flip-translate test-time augmentation, which eval, export and predict of these "
        "weights use (--tta none for the plain network).",
        needs_data_dir=True,
        half=True,
        tta="flip-translate",
        seed=3,  # the run of seed 3 in benchmarks/fast-cifar.json (seeds 0-2 were measured first)
        checked={"epochs": 10, "batch_size": 1024, "tta": "flip-translate"},
    ),
    Spec(
        "linear-regression",
        "crop-yields",
        "crop-yields",
        note="Trained on crop-yields, zoo's generated table in the tutorial's style: 1,000 rows "
        "of temperature, rainfall and humidity with apple and orange yields from a fixed linear "
        "relation plus noise (tested on its 200 test rows), with the published recipe (SGD lr "
        "1e-5, batch 11, 100 epochs). Synthetic data: a teaching example, not a model of real "
        "harvests.",
    ),
)


def run_zoo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this environment's `zoo` and fail loudly."""
    command = [str(Path(sys.executable).with_name("zoo")), *args]
    print("$", shlex.join(["zoo", *args]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"failed ({result.returncode}): {result.stderr.strip()}")
    return result


def train(spec: Spec, data_dir: str, out: Path) -> Path:
    """Train with the spec's command; the run directory."""
    runs = Path(tempfile.mkdtemp(prefix=f"{spec.model}-", dir=out))
    run_zoo(*spec.command(data_dir)[1:], "--out", str(runs))
    (run,) = (path for path in runs.iterdir() if path.is_dir())
    return run


def check_reused(spec: Spec, run: Path) -> None:
    """A reused run must be a finished run of the spec's command."""
    config = json.loads((run / "config.json").read_text())
    expected = {"model": spec.model, "dataset": spec.dataset, "seed": spec.seed} | spec.checked
    wrong = {key: config.get(key) for key, value in expected.items() if config.get(key) != value}
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    if wrong or last.get("epoch") != config.get("epochs"):
        sys.exit(f"{run} is not a finished run of {shlex.join(spec.command())}: {wrong}")


def kept_checkpoint(run: Path) -> Path:
    """The weights the run keeps: best on held-out validation, else the last epoch's."""
    best = run / "checkpoints" / "best.safetensors"
    return best if best.is_file() else run / "checkpoints" / "last.safetensors"


def half_copy(source: Path, target: Path) -> None:
    """``source`` with its floating-point tensors in float16, its metadata (the card) kept."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(source), "pt") as handle:
        metadata = handle.metadata()
    tensors = {
        key: value.half() if value.is_floating_point() else value
        for key, value in load_file(str(source)).items()
    }
    save_file(tensors, str(target), metadata)


def stamp(path: Path, **changes: object) -> None:
    """Rewrite the card inside a shipped safetensors file (its tensors unchanged)."""
    from safetensors.torch import load_file, save_file

    from zoo.artifacts.checkpoint import META_KEY, read_card

    card = read_card(path).with_(**changes)
    text = json.dumps(card.to_json(), indent=2)
    tensors = load_file(str(path))
    atomic_write(path, lambda temporary: save_file(tensors, temporary, {META_KEY: text}))


def declare(spec: Spec, run: Path, data_dir: str) -> dict[str, object]:
    """Ship the run's weights, measure them with `zoo eval`, stamp what it measured into their
    card; their declaration."""
    target = FOLDER / f"{spec.model}-{spec.name}.safetensors"
    source = kept_checkpoint(run)
    copy = half_copy if spec.half else shutil.copyfile
    atomic_write(target, lambda temporary: copy(source, temporary))
    where = ["--data-dir", data_dir] if spec.needs_data_dir else []
    where += ["--tta", spec.tta]
    with tempfile.TemporaryDirectory() as scratch:
        result = run_zoo("eval", str(target), "--split", "test", *where, "--out", scratch, "--json")
    summary = json.loads(result.stdout)
    metric = "accuracy" if "accuracy" in summary else "mae"
    stamp(
        target,
        metrics={metric: summary[metric], "loss": summary["loss"]},
        evaluated_on="the test split",
        evaluation_tta=spec.tta,
    )
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_items = history[-1]["train_items"]
    note = spec.note.format(train=f"{train_items:,}", held=f"{4000 - train_items:,}")
    return {
        "name": spec.name,
        "file": f"weights/{target.name}",
        "sha256": sha256_file(target),
        "note": f"{note} Trained with zoo {zoo.__version__}: {shlex.join(spec.command())}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DATA_DIR, help="The CIFAR-10 JPEG copy.")
    parser.add_argument("--models", nargs="+", default=[spec.model for spec in WEIGHTS])
    parser.add_argument("--out", type=Path, default=Path("/tmp/zoo-weights-runs"))
    parser.add_argument(
        "--reuse", nargs="*", default=[], metavar="MODEL=RUN_DIR", help="Finished runs to ship."
    )
    args = parser.parse_args()
    reuse = dict(item.split("=", 1) for item in args.reuse)
    index = json.loads(INDEX.read_text()) if INDEX.is_file() else {}
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in WEIGHTS:
        if spec.model not in args.models:
            continue
        if spec.model in reuse:
            run = Path(reuse[spec.model])
            check_reused(spec, run)
        else:
            run = train(spec, args.data_dir, args.out)
        declaration = declare(spec, run, args.data_dir)
        index[spec.model] = [declaration]
        print(f"{spec.model}: {declaration['sha256'][:12]} ({run})", flush=True)
        write_json(INDEX, dict(sorted(index.items())))


if __name__ == "__main__":
    main()
