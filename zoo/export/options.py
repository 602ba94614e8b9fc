"""The options of ``zoo export``, ``zoo bench`` and ``zoo verify`` (what they work on is a
:class:`~zoo.sources.SourceRequest`), each declared once as a field
of the request it fills (:func:`zoo.flags.option`), with its flag. The format and precision
switches of ``zoo export`` and bench's backend choices come from the registries. No torch and no
numpy here: the CLI reads these declarations to build its options at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo import flags
from zoo.artifacts.config import TTA, tta_option
from zoo.errors import ArgumentError
from zoo.export.backends import BACKENDS
from zoo.export.formats import FORMATS, Format
from zoo.export.precisions import PRECISIONS
from zoo.flags import flag, option

CALIBRATION_SAMPLES = 300  # training-split inputs static int8 quantisation calibrates on
CALIBRATION = flag(
    "--calibration-samples",
    help="Training inputs static int8 quantisation calibrates on (default: 300).",
    kind=int | None,
    min=1,
    aliases=("--calibration",),
)
REPORT_SUFFIXES = (".json", ".md")


def parse_batch(text: str) -> int | None:
    """``dynamic`` -> None, ``32`` -> 32."""
    if text == "dynamic":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ArgumentError(f"--batch must be 'dynamic' or a positive integer, not '{text}'")


def parse_reports(paths: list[Path] | list[str]) -> tuple[Path, ...]:
    """``--report`` files: each a .json or .md file."""
    reports = tuple(Path(path) for path in paths)
    for path in reports:
        if path.suffix not in REPORT_SUFFIXES:
            raise ArgumentError(f"--report '{path}' must end in .json or .md")
    return reports


OUT = flag(
    "--out", help="Output directory (default: exports/MODEL).", kind=Path | None, metavar="DIR"
)
FORCE = flag(
    "--force", help="Replace what the output directory holds (an earlier export), whole.", kind=bool
)
BATCH = flag("--batch", help="'dynamic' batch dimension, or a fixed batch size N.", kind=str | None)
OPSET = flag(
    "--opset",
    help="ONNX opset version (default: the exporter's); an opset it cannot write is an error.",
    kind=int | None,
)


@dataclass(frozen=True)
class ExportRequest:
    """What to write: formats (none named: all; each a switch from the formats' registry),
    derived precisions (switches from the precisions' registry), where, how, and on how many
    samples it is checked."""

    formats: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()  # derived ones: fp16, int8
    out: Path | None = option(None, OUT)
    check_samples: int = option(
        16,
        flag(
            "--check-samples",
            help="Inputs each file is checked on against eager, stratified by class (default: 16).",
            kind=int | None,
            min=1,
            aliases=("--samples",),
        ),
    )
    accuracy_samples: int = option(
        1000,
        flag(
            "--accuracy-samples",
            help="Labelled test samples each file's top-1 is measured on (default: 1000).",
            kind=int | None,
            min=1,
        ),
    )
    calibration_samples: int = option(CALIBRATION_SAMPLES, CALIBRATION)
    opset: int | None = option(None, OPSET)
    batch: int | None = option(None, BATCH, parse=parse_batch)
    embed_preprocessing: bool = option(
        False,
        flag(
            "--embed-preprocessing",
            help="The files take raw pixels (uint8) or rows and normalise them themselves.",
            kind=bool,
        ),
    )
    softmax: bool = option(
        False,
        flag(
            "--softmax",
            help="The files end in a softmax: they return class probabilities.",
            kind=bool,
        ),
    )
    max_accuracy_drop: float = option(
        1.0,
        flag(
            "--max-accuracy-drop",
            help="Top-1 points an int8 or float16 file may lose against the float32 file "
            "(default: 1).",
            kind=float | None,
            min=0,
            max=100,
        ),
    )
    tta: str | None = tta_option(
        None,
        TTA.with_help(
            "Test-time augmentation in the graph (default: as the weights were measured)."
        ),
    )
    force: bool = option(False, FORCE)

    @property
    def wanted(self) -> tuple[Format, ...]:
        """The formats to write (none named: the default ones), the float32 ONNX file included
        when a derived precision has no other file to be derived from."""
        names = self.formats or tuple(f.name for f in FORMATS.values() if f.default)
        derivable = all(any(n in PRECISIONS[p].derive for n in names) for p in self.precisions)
        if not derivable and "onnx" not in names:
            names = ("onnx", *names)
        return tuple(FORMATS[name] for name in FORMATS if name in names)


@dataclass(frozen=True)
class BenchRequest:
    """What to run, where, and how long (each option declared once, here)."""

    backends: tuple[str, ...] | None = option(
        None,
        flag(
            "--backends",
            help="Comma-separated backends (listed above) to run (default: all that run here).",
            metavar="NAME,...",
        ),
        parse=lambda text: flags.parse_list(text, "--backends", tuple(BACKENDS)),
    )
    device: str = option(
        "auto",
        flags.DEVICE.with_help("auto: the CPU, and the GPU too when there is one (default)."),
    )
    batch_sizes: tuple[int, ...] | None = option(
        None,
        flag(
            "--batch-sizes",
            help="Comma-separated batch sizes to time (default: 1,32).",
            metavar="N,...",
        ),
        parse=lambda text: flags.parse_counts(text, "--batch-sizes"),
    )
    test_samples: int = option(
        256,
        flag(
            "--test-samples",
            help="Test samples for parity and top-1, stratified by class (default: 256).",
            kind=int | None,
            min=1,
            aliases=("--samples",),
        ),
    )
    threads: int | None = option(
        None,
        flag(
            "--threads",
            help="Threads for every runtime alike (default: torch's).",
            kind=int | None,
            min=1,
        ),
    )
    iterations: int = option(
        20,
        flag(
            "--iterations",
            help="Timed calls per backend and batch size before it may stop (default: 20).",
            kind=int | None,
            min=1,
        ),
    )
    min_time: float = option(
        0.4,
        flag(
            "--min-time",
            help="Seconds of timed calls per backend and batch size before it may stop "
            "(default: 0.4).",
            kind=float | None,
            min=0,
        ),
    )
    max_time: float = option(
        6.0,
        flag(
            "--max-time",
            help="Seconds all the timing may take, every backend timed once at least (default: 6).",
            kind=float | None,
            min=0,
        ),
    )
    min_accuracy: float | None = option(
        None,
        flag(
            "--min-accuracy",
            help="Exit 1 if any backend's top-1 on the test samples is below this percentage.",
            kind=float | None,
            min=0,
            max=100,
        ),
    )
    opset: int | None = option(None, OPSET)
    batch: int | None = option(
        None,
        BATCH.with_help("Export with a 'dynamic' or fixed batch (not for EXPORT_DIR)."),
        parse=parse_batch,
    )
    report: tuple[Path, ...] = option(
        (),
        flag(
            "--report",
            help="Also write the result to FILE: .json or .md (repeatable).",
            metavar="FILE",
            kind=list[Path] | None,
        ),
        parse=parse_reports,
    )


OBJECTIVES = ("latency", "throughput")


@dataclass(frozen=True)
class OptimizeRequest:
    """What ``zoo optimize`` looks for: the fastest file within an accuracy budget, for one
    objective at one batch size on one device (each option declared once, here)."""

    max_drop: float = option(
        1.0,
        flag(
            "--max-drop",
            help="Top-1 points the chosen file may lose against float32's (default: 1).",
            kind=float | None,
            min=0,
        ),
    )
    objective: str = option(
        "latency",
        flag(
            "--objective",
            help="What to make fastest at --batch-size (default: latency).",
        ),
        check=flags.one_of(OBJECTIVES),
    )
    batch_size: int | None = option(
        None,
        flag(
            "--batch-size",
            help="The batch you will serve (default: 1 for latency, 32 for throughput).",
            kind=int | None,
            min=1,
        ),
    )
    device: str = option(
        "cpu",
        flags.DEVICE.with_help("Where the file will run; cuda adds float16 (default: cpu)."),
    )
    time_budget: float = option(
        20.0,
        flag(
            "--time-budget",
            help="Seconds the candidates' side-by-side timing may take (default: 20).",
            kind=float | None,
            min=1,
        ),
    )
    out: Path | None = option(
        None, OUT.with_help("Output directory (default: exports/MODEL-optimized).")
    )
    force: bool = option(False, FORCE)
    allow_random_inputs: bool = option(
        False,
        flag(
            "--allow-random-inputs",
            help="Without labelled data, choose on speed and agreement with float32 alone.",
            kind=bool,
        ),
    )
    selection_samples: int = option(
        1000,
        flag(
            "--selection-samples",
            help="Test samples every candidate is chosen on, by class (default: 1000).",
            kind=int | None,
            min=1,
        ),
    )
    confirmation_samples: int = option(
        2000,
        flag(
            "--confirmation-samples",
            help="Other test samples the choice is confirmed on (default: 2000).",
            kind=int | None,
            min=1,
        ),
    )
    calibration_samples: int = option(CALIBRATION_SAMPLES, CALIBRATION)

    @property
    def batch(self) -> int:
        return self.batch_size or (1 if self.objective == "latency" else 32)


@dataclass(frozen=True)
class VerifyRequest:
    """``zoo verify``: the export to re-check (a directory, one of its files, a Hub release)
    and where the dataset it was verified on is."""

    target: str
    data_dir: str | None = option(
        None,
        flags.DATA_DIR.with_help(
            "Where the dataset the export was verified on lives: top-1 is measured again on it."
        ),
        parse=flags.existing_folder,
    )
