"""CUDA in one call: every check of zoo's CUDA paths on a GPU machine, written to one JSON file
and one RESULTS.md section (issue 28; docs/gpu.md says how to run it on a rented GPU).

    python benchmarks/gpu_check.py --pack .gpu/cifar10-jpg.pack --out $OUT          # on the GPU
    .venv/bin/python benchmarks/gpu_check.py --dry-run --pack PACK --out DIR       # any CPU
    .venv/bin/python benchmarks/gpu_check.py --report DIR/gpu-check.json           # RESULTS.md

Steps, in order, each with its own time cap inside one deadline (``--budget-s``):

- environment: the GPU, its driver, the versions, ONNX Runtime's providers, the float32 settings
  torch starts with and those zoo pins (TF32 off);
- data: the CIFAR-10 JPEG pack checked (sha256), unpacked (benchmarks/jpeg_pack.py) and decoded;
- parity: `zoo export` of the shipped weights (TorchScript, ExportedProgram, ONNX, float16 ONNX),
  then `zoo bench` on CUDA on the real test images: every file and the bf16/fp16 autocast rows
  against eager on the same device, by their precision's tolerance, and latency at batch 1 and 32
  host to host;
- time-to-accuracy: `zoo train cifar10-fast --device cuda` to >= 90.5 % with TTA, beside
  airbench94's own script run as published (benchmarks/airbench_anchor.py --device cuda);
- train-speed: cifar10-cnn's images/s in `zoo train` on CUDA and on this machine's CPU;
- torchrun-nccl: `torchrun --nproc-per-node 1 -m zoo train` on the GPU (a process group of one,
  NCCL);
- resume-on-cpu: a run trained on CUDA, resumed for an epoch on the CPU, evaluated there.

A step that fails or runs out of time keeps what it measured; the JSON and the section are
rewritten after every step (and as figures come in), so a stop at any point loses nothing
finished. Every command runs in a process of its own (a time cap kills its whole process group).
``--dry-run`` runs the same steps on the CPU at a tiny size, zoo's commands in this process: every
CUDA part is skipped with the reason, the rest runs, so the script cannot rot unseen
(tests/test_gpu_check.py runs it on fake data). The script imports nothing that is not on the GPU
machine (no openvino, optuna, tensorboard, huggingface_hub, mlxtend).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jpeg_pack
from results_file import RESULTS, write_section

from zoo.files import write_json, write_text
from zoo.machine import native_cuda_bf16, this_machine

HERE = Path(__file__).resolve().parent
SECTION = "gpu-check"
# sha256 of ../shared/data/cifar10/cifar10-jpg.pack (the file; its contents carry their own)
PACK_SHA256 = "cedce9273d7543fd6660c864cd08b04d726bc1621652c535161526fa3b49f70e"
# cifar10-fast with TTA on the JPEG copy (airbench94: 94.01 % on the original files)
TARGET_ACCURACY = 0.905
GOAL_RATIO = 1.5  # zoo within 1.5x of airbench94's own script on the same GPU
AIRBENCH_A100 = "3.83 s to 94.01 % (A100, the original CIFAR-10; legacy/airbench94.py's header)"
NOT_NEEDED = ("openvino", "optuna", "tensorboard", "huggingface_hub", "mlxtend")
PARITY_MODELS = ("cifar10-fast", "cifar10-cnn")
DRY_RUN_MODELS = ("cifar10-tinycnn",)  # the same commands, on a model the CPU runs in moments
STOPPED = "stopped"
LOG_LINES = 200  # of each command's output, in gpu-check.log


class StepTimeout(Exception):
    """A step's time cap, or the whole run's deadline, came before its work was done."""


class StepFailed(Exception):
    """A step could not do its work; the message says why (the command's last lines)."""


class StepSkipped(Exception):
    """Nothing of the step can run here; the message says why."""


class Stopped(BaseException):
    """SIGTERM or SIGINT: stop the running command, save, stop."""


@dataclass(frozen=True)
class Sizes:
    """How much each step measures: the real run, or the dry run's tiny one."""

    bench_samples: int = 10_000
    export_accuracy_samples: int = 1_000
    bench_max_time: float = 20.0
    batch_sizes: str = "1,32"
    airbench_runs: int = 3
    speed_epochs_cuda: int = 2  # the first epoch warms up (cuDNN, allocator): the second is timed
    fast_extra: tuple[str, ...] = ()  # cifar10-fast as its recipe says (10 epochs)
    train_extra: tuple[str, ...] = ()


TINY = Sizes(
    bench_samples=32,
    export_accuracy_samples=16,
    bench_max_time=0.5,
    airbench_runs=0,
    speed_epochs_cuda=1,
    fast_extra=("--epochs", "1", "--model-arg", "widths=8,8,8"),
    train_extra=("--batch-size", "8", "--precision", "fp32"),
)


@dataclass
class Step:
    """One check: what it measured, how it ended and why."""

    name: str
    cap: float  # seconds
    status: str = "not run"  # ok, failed, timed out, stopped, skipped, not run
    reason: str = ""
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # parts that failed; the others ran


@dataclass
class Finished:
    """A command that ran to its end (or was stopped at its cap)."""

    command: list[str]
    returncode: int
    output: str
    seconds: float

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


@dataclass
class Check:
    """The run: where things are and go, its sizes, its deadline, its steps and their results."""

    pack: Path
    pack_sha256: str
    data_dir: Path
    work: Path
    out: Path
    dry_run: bool
    budget: float
    models: tuple[str, ...]
    results: Path | None
    command: str
    sizes: Sizes = field(default_factory=Sizes)
    cuda_missing: str | None = None  # why CUDA parts cannot run here, None when they can
    airbench_script: Path = (
        HERE.parent / ".gpu" / "airbench94.py"
    )  # a third party's: carried, not committed
    started: float = field(default_factory=time.monotonic)
    steps: list[Step] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    step: Step | None = None  # the step running now
    step_deadline: float = 0.0

    @property
    def deadline(self) -> float:
        return self.started + self.budget

    @property
    def device(self) -> str:
        return "cpu" if self.cuda_missing else "cuda"

    def left(self) -> float:
        """Seconds the running step may still take."""
        return min(self.step_deadline, self.deadline) - time.monotonic()

    def note(self, **figures: Any) -> None:
        """Figures of the running step, saved at once."""
        assert self.step is not None
        self.step.figures.update(figures)
        self.save()

    def skip(self, what: str, why: str) -> None:
        """A part of the running step that cannot run here, and why."""
        assert self.step is not None
        self.step.skipped.append({"what": what, "why": why})
        self.save()

    def to_json(self) -> dict[str, Any]:
        return {
            "script": "benchmarks/gpu_check.py",
            "command": self.command,
            "dry_run": self.dry_run,
            "cuda_missing": self.cuda_missing,
            "when": time.strftime("%Y-%m-%d %H:%M"),
            "budget_seconds": self.budget,
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "sizes": asdict(self.sizes),
            "environment": self.environment,
            "steps": [asdict(step) for step in self.steps],
        }

    def save(self) -> None:
        """The JSON and the section, rewritten (atomically) with everything so far."""
        data = self.to_json()
        write_json(self.out / "gpu-check.json", data)
        text = report(data)
        write_text(self.out / "gpu-check.md", text + "\n")
        if self.results is not None:
            write_section(SECTION, text, self.results)


# -- running commands -------------------------------------------------------------------------


def environment_for_commands() -> dict[str, str]:
    """What every command runs with: wide, colourless, unbuffered output (read afterwards)."""
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


def run_command(check: Check, command: list[str], cwd: Path | None = None) -> Finished:
    """``command`` in a session of its own, killed with its children at the step's cap."""
    timeout = check.left()
    if timeout <= 1:
        raise StepTimeout("no time left for " + " ".join(command[:4]))
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=environment_for_commands(),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except BaseException as exc:  # the cap, or SIGTERM/SIGINT: the whole group goes
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a child left the group and holds the pipe
            output = ""
        record(check, command, -9, time.monotonic() - started)
        log(check, command, output)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise StepTimeout(f"{shown(command)} ran past the cap ({timeout:.0f} s)") from None
        raise
    finished = Finished(command, process.returncode, output, time.monotonic() - started)
    record(check, command, finished.returncode, finished.seconds)
    log(check, command, output)
    return finished


def zoo_in_process(args: list[str]) -> tuple[int, str]:
    """``zoo ARGS`` in this process (the dry run: no interpreter start-up per command)."""
    from zoo.launch import main

    output, argv, code = io.StringIO(), sys.argv, 0
    saved_columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "200"
    sys.argv = ["zoo", *args]
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except Exception:
        code = 1
        output.write(traceback.format_exc())
    finally:
        sys.argv = argv
        if saved_columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved_columns
    return code, output.getvalue()


def zoo(check: Check, *args: str, ok: tuple[int, ...] = (0,)) -> Finished:
    """A zoo command: its own process (``python -m zoo``), in this one for the dry run; a
    failure (an exit status not in ``ok``) fails the step with its last lines."""
    args_list = [str(a) for a in args]
    if check.dry_run:
        if check.left() <= 0:
            raise StepTimeout("no time left for zoo " + " ".join(args_list[:2]))
        started = time.monotonic()
        code, output = zoo_in_process(args_list)
        finished = Finished(["zoo", *args_list], code, output, time.monotonic() - started)
        record(check, finished.command, code, finished.seconds)
        log(check, finished.command, output)
    else:
        finished = run_command(check, [sys.executable, "-m", "zoo", *args_list])
    if finished.returncode not in ok:
        raise StepFailed(
            f"{shown(finished.command)} exited {finished.returncode}:\n{finished.tail()}"
        )
    return finished


def shown(command: list[str]) -> str:
    """A command as a person would type it."""
    words = ["python" if word == sys.executable else word for word in command]
    if words[:3] == ["python", "-m", "zoo"]:
        words = ["zoo", *words[3:]]
    return " ".join(words)


def log(check: Check, command: list[str], output: str) -> None:
    """A command's output (its last lines) in gpu-check.log beside the JSON: what to read when
    a step failed on a machine that is gone."""
    lines = output.splitlines()
    kept = lines[-LOG_LINES:]
    cut = f"[{len(lines) - len(kept)} earlier lines left out]\n" if len(lines) > len(kept) else ""
    step = check.step.name if check.step else "?"
    with open(check.out / "gpu-check.log", "a") as file:
        file.write(f"\n=== {step}: {shown(command)}\n{cut}" + "\n".join(kept) + "\n")


def record(check: Check, command: list[str], returncode: int, seconds: float) -> None:
    assert check.step is not None
    check.step.commands.append(
        {"command": shown(command), "returncode": returncode, "seconds": round(seconds, 1)}
    )


def attempt(check: Check, what: str, work: Callable[[], Any]) -> Any:
    """One part of a step: what it returns, or None when it failed; the failure is recorded
    (the step ends failed) and the step goes on with its other parts. A cap or a stop ends it."""
    assert check.step is not None
    try:
        return work()
    except (StepTimeout, StepSkipped):
        raise
    except StepFailed as exc:
        check.step.errors.append(f"{what}: {exc}")
    except Exception as exc:  # a bug or an unexpected failure of this part
        check.step.errors.append(f"{what}: {type(exc).__name__}: {exc}\n{traceback.format_exc(-3)}")
    check.save()
    return None


# -- reading what zoo wrote -------------------------------------------------------------------


def one_run(out: Path) -> Path:
    """The run directory a `zoo train --out OUT` made."""
    runs = sorted(p.parent for p in out.glob("*/metrics.jsonl"))
    if len(runs) != 1:
        raise StepFailed(f"expected one run directory in {out}, found {len(runs)}")
    return runs[0]


def history(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def fresh(path: Path) -> Path:
    """An empty directory at ``path`` (a rerun starts over)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def train_args(check: Check, model: str, device: str, out: Path, *extra: str) -> list[str]:
    return [
        "train", model, "-d", "imagefolder", "--data-dir", str(check.data_dir),
        "--device", device, "--seed", "0", "--out", str(out), *check.sizes.train_extra, *extra,
    ]  # fmt: skip


# -- the steps --------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    """The versions of what the checks run on ("not installed" where absent)."""
    found = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "onnx", "onnxruntime", "onnxscript", "numpy"):
        found[name] = package_version(name)
    found["onnxconverter-common"] = package_version("onnxconverter-common")
    found["torch-zoo"] = package_version("torch-zoo")
    return found


def package_version(name: str) -> str:
    """A distribution's version (ONNX Runtime's GPU build is a distribution of its own)."""
    candidates = (name, f"{name}-gpu") if name == "onnxruntime" else (name,)
    for distribution in candidates:
        try:
            found = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        return found if distribution == name else f"{found} ({distribution})"
    return "not installed"


def nvidia_smi() -> str:
    """The GPU's name, driver and memory as nvidia-smi says them."""
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    try:
        done = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi did not answer: {type(exc).__name__}"
    return done.stdout.strip()


def nccl_version() -> str:
    """NCCL's version as torch reports it (a tuple on recent torch, a number on older)."""
    import torch

    try:
        found = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError) as exc:
        return f"unknown ({exc})"
    return ".".join(map(str, found)) if isinstance(found, tuple) else str(found)


def step_environment(check: Check) -> None:
    """The machine, the versions, ONNX Runtime's providers, torch's float32 settings."""
    import onnxruntime
    import torch

    from zoo.export import runtimes

    info: dict[str, Any] = {"cpu": this_machine().to_json(), "versions": versions()}
    info["onnxruntime providers"] = onnxruntime.get_available_providers()
    info["float32 settings, torch's defaults"] = runtimes.float32_settings()
    with runtimes.float32_torch() as pinned:
        info["float32 settings, zoo's pins"] = pinned
    info["not needed here"] = {
        name: "importable" if importlib.util.find_spec(name) else "absent" for name in NOT_NEEDED
    }
    if check.cuda_missing is None:
        index = torch.cuda.current_device()
        properties = torch.cuda.get_device_properties(index)
        info["gpu"] = {
            "name": torch.cuda.get_device_name(index),
            "count": torch.cuda.device_count(),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(index))),
            "memory_gib": round(properties.total_memory / 2**30, 1),
            "nvidia-smi": nvidia_smi(),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "nccl": nccl_version(),
            "bf16 native (zoo's --precision auto)": native_cuda_bf16(
                torch.cuda.get_device_capability(index)
            ),
            "bf16 by torch.cuda.is_bf16_supported()": torch.cuda.is_bf16_supported(),
        }
    else:
        check.skip("the GPU, its driver, CUDA, cuDNN and NCCL versions", check.cuda_missing)
    check.environment = info
    check.note(**info)


def step_data(check: Check) -> None:
    """The pack checked against its sha256, unpacked (once per pack), each split decoded once
    into zoo's cache (so no later step's timing includes decoding)."""
    import zoo

    if not check.pack.is_file():
        raise StepFailed(f"no pack at {check.pack} (--pack)")
    digest = hashlib.sha256(check.pack.read_bytes()).hexdigest()
    check.note(pack=str(check.pack), pack_bytes=check.pack.stat().st_size, pack_sha256=digest)
    if digest != check.pack_sha256:
        raise StepFailed(f"{check.pack} has sha256 {digest}, not {check.pack_sha256}")
    marker = check.data_dir / f".unpacked-{digest[:16]}"
    started = time.monotonic()
    if marker.is_file():
        check.note(unpacked="already, by an earlier run")
    else:
        try:
            count = jpeg_pack.unpack(str(check.pack), str(fresh(check.data_dir)))
        except jpeg_pack.PackError as exc:
            raise StepFailed(str(exc)) from None
        marker.write_text(digest + "\n")
        check.note(files=count, unpack_seconds=round(time.monotonic() - started, 1))
    for split in ("train", "test"):
        started = time.monotonic()
        images, _ = zoo.create_dataset(
            "imagefolder", root=str(check.data_dir), train=split == "train"
        ).as_tensors()
        check.note(**{f"{split}_images": len(images)})
        check.note(**{f"{split}_decode_seconds": round(time.monotonic() - started, 1)})


def export_files(check: Check, model: str, out: Path) -> float:
    """`zoo export` of the shipped weights to every format (and the float16 ONNX file where
    onnxconverter-common is installed); the seconds it took."""
    files = ["--onnx", "--torchscript", "--exported-program"]
    if importlib.util.find_spec("onnxconverter_common") is None:
        check.skip(
            f"{model}: the float16 ONNX file",
            "onnxconverter-common is not installed (bring its wheel: docs/gpu.md)",
        )
    else:
        files.append("--fp16")
    accuracy = ["--accuracy-samples", str(check.sizes.export_accuracy_samples)]
    exported = zoo(check, "export", model, "--weights", "default", "--data-dir",
                   str(check.data_dir), *files, *accuracy, "--out", str(out), "--force")  # fmt: skip
    return round(exported.seconds, 1)


def export_and_bench(check: Check, model: str) -> dict[str, Any]:
    """`zoo export`, then `zoo bench` of the files on the device; the bench report, condensed.
    Should the export fail, the eager rows are benched all the same (bf16 and fp16 autocast on a
    GPU)."""
    out = fresh(check.work / "exports" / model)
    files = out / "files"
    seconds = attempt(check, f"{model}: zoo export", lambda: export_files(check, model, files))
    if seconds is not None:
        source = [str(files)]
    else:
        rows = "eager" if check.cuda_missing else "eager,eager-bf16,eager-fp16"
        source = [model, "--weights", "default", "--backends", rows]
    report_file = out / "bench.json"
    sizes = check.sizes
    bench = zoo(
        check, "bench", *source, "--device", check.device, "--data-dir", str(check.data_dir),
        "--test-samples", str(sizes.bench_samples), "--batch-sizes", sizes.batch_sizes,
        "--max-time", str(sizes.bench_max_time), "--report", str(report_file),
        ok=(0, 1),  # 1: a parity or accuracy check failed, which the report says
    )  # fmt: skip
    if not report_file.is_file():
        raise StepFailed(f"zoo bench wrote no report:\n{bench.tail()}")
    condensed = condense(json.loads(report_file.read_text()))
    condensed["export_seconds"] = seconds
    return condensed


def condense(bench: dict[str, Any]) -> dict[str, Any]:
    """What a `zoo bench --report` JSON says, in the rows the section shows."""
    parity = [
        {
            "backend": row["backend"],
            "device": row["device"],
            "precision": row["precision"],
            "max_abs": row["max_abs"],
            "of_tolerance": row["tolerance_used"],
            "top1_agreement": row["top1_agreement"],
            "passed": row["passed"],
            "rule": row["tolerance"],
            "count": row["count"],
        }
        for row in bench["parity"]
    ]
    accuracy = [
        {
            "backend": row["backend"],
            "device": row["device"],
            "precision": row["precision"],
            "top1": (row.get("top1") or {}).get("value"),
        }
        for row in bench["backends"]
    ]
    latency = [
        {key: row[key] for key in ("backend", "device", "batch", "p50_ms", "p90_ms", "spread")}
        | {"speedup_vs_eager": row["speedup_vs_eager"], "samples_per_s": row["samples_per_s"]}
        for row in bench["latency"]
    ]
    return {
        "passed": bench["passed"],
        "inputs": bench["inputs"],
        "samples": bench["samples"],
        "parity": parity,
        "accuracy": accuracy,
        "latency": latency,
        "skipped": bench["skipped"],
        "noise": bench["noise"],
        "precision settings": bench["environment"].get("precision settings", {}),
        "cuda": bench["environment"].get("cuda"),
    }


def step_parity(check: Check) -> None:
    """Each model's files against eager on the GPU (float32 pinned), the reduced-precision rows
    by their tolerance, and latency host to host."""
    if check.cuda_missing:
        check.skip("parity and latency on CUDA (on the CPU instead)", check.cuda_missing)
    for model in check.models:
        found = attempt(check, model, lambda model=model: export_and_bench(check, model))
        if found is not None:
            check.note(**{model: found})


def zoo_time_to_accuracy(check: Check) -> dict[str, Any]:
    """`zoo train cifar10-fast` as its recipe says (TTA at the end), timed from outside; its
    training and TTA seconds and accuracies read from the run."""
    out = fresh(check.work / "runs" / "time-to-accuracy")
    args = train_args(check, "cifar10-fast", check.device, out, *check.sizes.fast_extra)
    done = zoo(check, *args)
    run = one_run(out)
    epochs = history(run)
    (tested,) = run.glob("eval/*-test-tta-*/metrics.json")
    tta = json.loads(tested.read_text())
    card = json.loads((run / "checkpoints" / "last.json").read_text())
    found = re.search(r"\(([\d.]+) s; results in", done.output)
    train_seconds = sum(row["train_seconds"] for row in epochs)
    tta_seconds = float(found.group(1)) if found else None
    return {
        "command": shown(done.command),
        "wall_seconds": round(done.seconds, 1),
        "epochs": len(epochs),
        "train_seconds": round(train_seconds, 2),
        "epoch_seconds": round(sum(row["seconds"] for row in epochs), 2),
        "tta_eval_seconds": tta_seconds,
        "seconds": round(train_seconds + tta_seconds, 2) if tta_seconds is not None else None,
        "accuracy": epochs[-1]["test_accuracy"],
        "tta_accuracy": tta["accuracy"],
        "reached": tta["accuracy"] >= TARGET_ACCURACY,
        "precision": card["training"]["precision"],
    }


def airbench(check: Check) -> dict[str, Any]:
    """airbench94's own script on the GPU, as published (benchmarks/airbench_anchor.py)."""
    import airbench_anchor

    script = check.airbench_script
    why = airbench_anchor.missing(script)
    if check.cuda_missing:
        if why is None:  # its CUDA text still applies and compiles
            compile(airbench_anchor.patched(script, "cuda"), "airbench94.py", "exec")
        checked = "its CUDA text checked" if why is None else why
        check.skip("airbench94's own script", f"{check.cuda_missing} ({checked})")
        return {}
    if why:
        check.skip("airbench94's own script", why)
        return {}
    record_file = check.work / "airbench.json"
    record_file.unlink(missing_ok=True)
    command = [sys.executable, str(HERE / "airbench_anchor.py"), "--device", "cuda"]
    command += ["--script", str(script)]
    command += ["--data-dir", str(check.data_dir), "--runs", str(check.sizes.airbench_runs)]
    command += ["--work", str(fresh(check.work / "airbench")), "--json", str(record_file)]
    done = run_command(check, command)
    if done.returncode or not record_file.is_file():
        raise StepFailed(f"airbench94 exited {done.returncode}:\n{done.tail()}")
    found = json.loads(record_file.read_text())
    runs = found["script_runs"]
    warm = [r["seconds"] for r in runs[1:]]
    return {
        "command": shown(done.command),
        "wall_seconds": round(done.seconds, 1),
        "runs": runs,
        "first_run_seconds": runs[0]["seconds"] if runs else None,
        "warm_mean_seconds": round(sum(warm) / len(warm), 3) if warm else None,
        "mean_tta_accuracy": found["mean_tta_accuracy"],
        "changed": found["changed"],
    }


def step_time_to_accuracy(check: Check) -> None:
    """zoo's cifar10-fast beside airbench94's script on the same GPU: accuracy and seconds."""
    if check.cuda_missing:
        check.skip("zoo train cifar10-fast on CUDA (on the CPU instead)", check.cuda_missing)
    zoo_run = attempt(check, "zoo train cifar10-fast", lambda: zoo_time_to_accuracy(check))
    if zoo_run is not None:
        check.note(zoo=zoo_run)
    script = attempt(check, "airbench94", lambda: airbench(check)) or {}
    check.note(airbench94=script, published=AIRBENCH_A100)
    ours = (zoo_run or {}).get("seconds")
    if script.get("first_run_seconds") and ours:
        ratio = ours / script["first_run_seconds"]
        warm = script["warm_mean_seconds"]
        check.note(
            ratio_to_first_run=round(ratio, 2),
            ratio_to_warm_runs=round(ours / warm, 2) if warm else None,
            goal_met=ratio <= GOAL_RATIO,
        )


def epoch_speed(check: Check, device: str, epochs: int) -> dict[str, Any]:
    """cifar10-cnn for ``epochs`` on ``device``: the last epoch's training images/s."""
    out = fresh(check.work / "runs" / f"speed-{device}")
    done = zoo(check, *train_args(check, "cifar10-cnn", device, out, "--epochs", str(epochs)))
    run = one_run(out)
    rows = history(run)
    config = json.loads((run / "config.json").read_text())
    card = json.loads((run / "checkpoints" / "last.json").read_text())
    return {
        "precision": card["training"]["precision"],
        "images_per_second": rows[-1]["images_per_second"],
        "first_epoch_images_per_second": rows[0]["images_per_second"],
        "epoch_seconds": rows[-1]["seconds"],
        "batch_size": config["batch_size"],
        "wall_seconds": round(done.seconds, 1),
    }


def step_train_speed(check: Check) -> None:
    """cifar10-cnn's training images/s on the GPU against this machine's CPU."""
    if check.cuda_missing:
        check.skip("cifar10-cnn images/s on CUDA", check.cuda_missing)
    else:
        epochs = check.sizes.speed_epochs_cuda
        cuda = attempt(check, "on CUDA", lambda: epoch_speed(check, "cuda", epochs))
        if cuda is not None:
            check.note(cuda=cuda)
    cpu = attempt(check, "on the CPU", lambda: epoch_speed(check, "cpu", 1))
    if cpu is not None:
        check.note(cpu=cpu)
    figures = check.step.figures  # type: ignore[union-attr]
    if "cuda" in figures and "cpu" in figures:
        ratio = figures["cuda"]["images_per_second"] / figures["cpu"]["images_per_second"]
        check.note(cuda_over_cpu=round(ratio, 1))


def step_torchrun_nccl(check: Check) -> None:
    """One process under torchrun on the GPU: a process group of one over NCCL, DDP, a full
    epoch, rank 0 writing the run."""
    if check.cuda_missing:
        check.skip("torchrun --nproc-per-node 1 -m zoo train on NCCL", check.cuda_missing)
        raise StepSkipped(
            f"{check.cuda_missing}; torchrun on the CPU (gloo) is tested by tests/test_ddp.py "
            "and tests/test_cuda_paths.py"
        )
    out = fresh(check.work / "runs" / "nccl")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "1", "-m", "zoo"]
    command += train_args(check, "cifar10-tinycnn", "cuda", out, "--epochs", "1")
    done = run_command(check, command)
    if done.returncode:
        raise StepFailed(f"torchrun exited {done.returncode}:\n{done.tail()}")
    rows = history(one_run(out))
    group = re.search(r"DistributedDataParallel over (\w+), (\d+) process", done.output)
    check.note(
        command=shown(command),
        process_group=group.group(0) if group else "not reported",
        nccl=bool(group and group.group(1) == "nccl"),
        test_accuracy=rows[-1]["test_accuracy"],
        seconds=round(done.seconds, 1),
    )
    if not (group and group.group(1) == "nccl"):
        raise StepFailed("the run did not report a process group over NCCL")


def step_resume_on_cpu(check: Check) -> None:
    """An epoch on the GPU, the next one resumed on the CPU from its checkpoint, the result
    evaluated on the CPU."""
    out = fresh(check.work / "runs" / "resume")
    if check.cuda_missing:
        check.skip("the first epoch on CUDA (trained on the CPU instead)", check.cuda_missing)
    first = zoo(check, *train_args(check, "cifar10-tinycnn", check.device, out, "--epochs", "1"))
    run = one_run(out)
    resumed = zoo(check, "train", "--resume", str(run), "--epochs", "2", "--device", "cpu")
    rows = history(run)
    if len(rows) != 2:
        raise StepFailed(f"the resumed run holds {len(rows)} epochs, not 2")
    evaluated = zoo(check, "eval", str(run), "--device", "cpu", "--data-dir", str(check.data_dir))
    written = max(run.glob("eval/*/metrics.json"), key=lambda path: path.stat().st_mtime)
    check.note(
        trained_on=check.device,
        epoch_1_test_accuracy=rows[0]["test_accuracy"],
        epoch_2_test_accuracy=rows[1]["test_accuracy"],
        eval_accuracy=json.loads(written.read_text())["accuracy"],
        seconds=[round(first.seconds, 1), round(resumed.seconds, 1), round(evaluated.seconds, 1)],
    )


STEPS: list[tuple[str, float, Callable[[Check], None]]] = [
    ("environment", 60, step_environment),
    ("data", 150, step_data),
    ("parity", 200, step_parity),
    ("time-to-accuracy", 200, step_time_to_accuracy),
    ("train-speed", 120, step_train_speed),
    ("torchrun-nccl", 90, step_torchrun_nccl),
    ("resume-on-cpu", 120, step_resume_on_cpu),
]
NEEDS_DATA = {"parity", "time-to-accuracy", "train-speed", "torchrun-nccl", "resume-on-cpu"}


# -- the run ----------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (a machine's time limit) and SIGINT stop the run as an exception: the running
    command's process group is killed, what was measured is saved."""

    def stop(signum: int, _frame: Any) -> None:
        raise Stopped(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_step(check: Check, step: Step, work: Callable[[Check], None]) -> None:
    """One step within its cap and the deadline; how it ended, kept whatever happens."""
    if check.deadline - time.monotonic() < 5:
        step.status, step.reason = "skipped", "no time left in --budget-s"
        return
    if step.name in NEEDS_DATA and next(s for s in check.steps if s.name == "data").status != "ok":
        step.status, step.reason = "skipped", "no data: the data step did not finish"
        return
    check.step, check.step_deadline = step, time.monotonic() + step.cap
    started, step.status = time.monotonic(), "running"
    check.save()
    try:
        work(check)
        step.status = "failed" if step.errors else "ok"
        step.reason = "\n".join(step.errors)
    except StepTimeout as exc:
        step.status, step.reason = "timed out", str(exc)
    except StepFailed as exc:
        step.status, step.reason = "failed", str(exc)
    except StepSkipped as exc:
        step.status, step.reason = "skipped", str(exc)
    except Stopped as exc:
        step.status, step.reason = STOPPED, f"stopped by {exc}"
    except Exception as exc:  # a bug or an unexpected failure: this step's, not the others'
        step.status = "failed"
        step.reason = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    finally:
        step.seconds = round(time.monotonic() - started, 1)
        check.step = None
        check.save()


def run_all(check: Check, only: set[str] | None) -> None:
    """Every step in turn (``only``: those named, the data step always)."""
    check.steps = [Step(name, cap) for name, cap, _ in STEPS]
    with stop_on_signals():
        for step, (name, _, work) in zip(check.steps, STEPS, strict=True):
            if only and name not in only and name != "data":
                step.status, step.reason = "not run", "not among --steps"
                continue
            if any(s.status == STOPPED for s in check.steps):
                step.status, step.reason = "not run", "the run was stopped"
                continue
            run_step(check, step, work)
            print(
                f"{name}: {step.status} in {step.seconds:.0f} s {step.reason}".rstrip(), flush=True
            )
    check.save()


def models_for(dry_run: bool) -> tuple[str, ...]:
    return DRY_RUN_MODELS if dry_run else PARITY_MODELS


def cuda_missing(dry_run: bool) -> str | None:
    """Why this run cannot use CUDA, or None."""
    if dry_run:
        return "dry run (--dry-run): CUDA is not used"
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA GPU here (torch {torch.__version__}: torch.cuda.is_available() is False)"
    return None


# -- the section ------------------------------------------------------------------------------


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


def header(data: dict[str, Any]) -> list[str]:
    env = data["environment"]
    gpu, ver = env.get("gpu"), env.get("versions", {})
    where = (
        f"{gpu['name']} (compute capability {gpu['capability']}, {gpu['memory_gib']} GiB; "
        f"nvidia-smi: {gpu['nvidia-smi']}); CUDA {gpu['cuda']}, cuDNN {gpu['cudnn']}, NCCL {gpu['nccl']}"
        if gpu
        else f"no GPU used: {data['cuda_missing']}"
    )
    cpu = env.get("cpu", {})
    lines = [
        "## CUDA in one call (`benchmarks/gpu_check.py`)",
        "",
        f"`{data['command']}` on {data['when']}"
        + (" (**dry run**: tiny sizes, CPU only)" if data["dry_run"] else "")
        + f": {where}.",
        f"CPU: {cpu.get('cpu', '?')}, {cpu.get('cores', '?')} cores; "
        + ", ".join(f"{k} {v}" for k, v in ver.items())
        + f"; ONNX Runtime providers: {', '.join(env.get('onnxruntime providers', [])) or '?'}.",
        f"{data['wall_seconds']:.0f} s in all (budget {data['budget_seconds']:.0f} s).",
        "",
        "| step | status | seconds | cap |",
        "|---|---|---|---|",
    ]
    for step in data["steps"]:
        said = step["reason"].strip().splitlines()
        why = f": {said[0]}" + (f" … {said[-1]}" if len(said) > 1 else "") if said else ""
        lines.append(
            f"| {step['name']} | {step['status']}{why} | {step['seconds']:.0f} | {step['cap']:.0f} |"
        )
    return lines


def parity_lines(figures: dict[str, Any]) -> list[str]:
    lines = ["", "### Parity, accuracy and latency (`zoo export`, then `zoo bench`)", ""]
    lines += [
        "Every row against eager on the same device and inputs, judged by its precision's rule; "
        "latency host to host (the batch copied in, the result copied out, synchronised).",
        "",
        "| model | backend | device | precision | max abs diff | of tolerance | top-1 agreement | parity | top-1 | p50 ms @1 | p50 ms @32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model, found in figures.items():
        if not isinstance(found, dict) or "parity" not in found:
            continue
        top1 = {(r["backend"], r["device"]): r["top1"] for r in found["accuracy"]}
        p50 = {(r["backend"], r["device"], r["batch"]): r["p50_ms"] for r in found["latency"]}
        rows = [
            {"backend": "eager", "device": d, "precision": "fp32"} for b, d in top1 if b == "eager"
        ]
        for row in [*rows, *found["parity"]]:
            key = (row["backend"], row["device"])
            diff = "reference" if row["backend"] == "eager" else f"{row['max_abs']:.2e}"
            share = "" if row.get("of_tolerance") is None else f"{row['of_tolerance']:.3f}"
            agree = (
                "" if row.get("top1_agreement") is None else f"{100 * row['top1_agreement']:.2f} %"
            )
            verdict = "" if row["backend"] == "eager" else ("pass" if row["passed"] else "**FAIL**")
            times = [p50.get((*key, batch)) for batch in (1, 32)]
            shown_times = ["–" if t is None else f"{t:.3f}" for t in times]
            lines.append(
                f"| {model} | {row['backend']} | {row['device']} | {row['precision']} | {diff} | "
                f"{share} | {agree} | {verdict} | {percent(top1.get(key))} | {' | '.join(shown_times)} |"
            )
        for skipped in found["skipped"]:
            lines.append(
                f"| {model} | {skipped['backend']} | {skipped['device']} | | skipped: {skipped['reason']} | | | | | | |"
            )
    first = next((f for f in figures.values() if isinstance(f, dict) and "parity" in f), None)
    if first:
        settings = "; ".join(f"{k}: {v}" for k, v in first["precision settings"].items())
        lines += ["", f"Settings read back during the bench: {settings}."]
        rules = sorted(
            {
                f"{r['precision']}: {r['rule']}"
                for f in figures.values()
                if isinstance(f, dict)
                for r in f.get("parity", [])
            }
        )
        lines += [f"Rules: {'; '.join(rules)}."]
    return lines


def time_lines(figures: dict[str, Any]) -> list[str]:
    ours, script = figures.get("zoo"), figures.get("airbench94") or {}
    lines = ["", "### Time to accuracy: cifar10-fast against airbench94's own script, same GPU", ""]
    if ours:
        tta = "–" if ours["tta_eval_seconds"] is None else f"{ours['tta_eval_seconds']:.2f}"
        lines.append(
            f"- `{ours['command']}`: {percent(ours['tta_accuracy'])} with TTA "
            f"({percent(ours['accuracy'])} without), {'reached' if ours['reached'] else '**not reached**'} "
            f"the {100 * TARGET_ACCURACY:.1f} % target, precision {ours['precision']}; training "
            f"{ours['train_seconds']:.2f} s over {ours['epochs']} epoch(s) + TTA evaluation {tta} s; "
            f"{ours['epoch_seconds']:.1f} s with the per-epoch evaluations and checkpoints; "
            f"{ours['wall_seconds']:.0f} s for the whole process."
        )
    if script:
        each = ", ".join(
            f"{100 * r['tta_accuracy']:.2f} % in {r['seconds']:.2f} s" for r in script["runs"]
        )
        lines.append(
            f"- `{script['command']}` (as published; the driver changed only "
            f"{', '.join(repr(c) for c in script['changed'])} and wrote its data files from the JPEG "
            f"copy): runs {each} (its own CUDA-event time: whitening, training, TTA evaluation); "
            f"{script['wall_seconds']:.0f} s for the whole process. Published: {AIRBENCH_A100}."
        )
    if "ratio_to_first_run" in figures:
        warm = figures["ratio_to_warm_runs"]
        lines.append(
            f"- zoo ÷ airbench94 (training + TTA evaluation, both cold in a fresh process): "
            f"**{figures['ratio_to_first_run']:.2f}×** (goal ≤ {GOAL_RATIO}×: "
            f"{'met' if figures['goal_met'] else 'not met'}); against its warm runs "
            f"{'–' if warm is None else f'{warm:.2f}×'}."
        )
    return lines


def other_lines(steps: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    speed = steps.get("train-speed", {}).get("figures", {})
    if speed.get("cpu"):
        cpu = speed["cpu"]
        text = (
            f"CPU {cpu['images_per_second']:,.0f} images/s (batch {cpu['batch_size']}, "
            f"{cpu.get('precision', '?')})"
        )
        if speed.get("cuda"):
            cuda = speed["cuda"]
            text = (
                f"CUDA {cuda['images_per_second']:,.0f} images/s ({cuda.get('precision', '?')}; "
                f"the last of its epochs, the first {cuda['first_epoch_images_per_second']:,.0f}), "
                f"{text}: "
                f"**{speed['cuda_over_cpu']}×**"
            )
        lines += [
            "",
            f"- Training speed, cifar10-cnn, `zoo train --epochs N` (training phase): {text}.",
        ]
    nccl = steps.get("torchrun-nccl", {}).get("figures", {})
    if nccl:
        lines.append(
            f"- `{nccl['command']}`: {nccl['process_group']}, test accuracy "
            f"{percent(nccl['test_accuracy'])} after 1 epoch, {nccl['seconds']:.0f} s."
        )
    resume = steps.get("resume-on-cpu", {}).get("figures", {})
    if resume:
        lines.append(
            f"- Resume on the CPU of a run trained on {resume['trained_on']}: epoch 1 "
            f"{percent(resume['epoch_1_test_accuracy'])}, epoch 2 (CPU) "
            f"{percent(resume['epoch_2_test_accuracy'])}, `zoo eval RUN --device cpu` "
            f"{percent(resume['eval_accuracy'])}."
        )
    return lines


def safely(render: Callable[[Any], list[str]], figures: Any) -> list[str]:
    """A part of the section; where a step stopped before its figures were complete, a line
    saying so (the JSON has what there is)."""
    if not figures:
        return []
    try:
        return render(figures)
    except (KeyError, TypeError, ValueError) as exc:
        return [
            "",
            f"({render.__name__}: figures incomplete, {type(exc).__name__} {exc}; see the JSON)",
        ]


def report(data: dict[str, Any]) -> str:
    """The RESULTS.md section for a run's JSON (what it measured, what it skipped and why)."""
    steps = {step["name"]: step for step in data["steps"]}
    lines = safely(header, data)
    lines += safely(parity_lines, steps.get("parity", {}).get("figures"))
    lines += safely(time_lines, steps.get("time-to-accuracy", {}).get("figures"))
    lines += safely(other_lines, steps)
    skipped = [(name, s) for name, step in steps.items() for s in step["skipped"]]
    if skipped:
        lines += ["", "Skipped:"]
        lines += [f"- {name}: {s['what']}: {s['why']}" for name, s in skipped]
    return "\n".join(lines)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, help="cifar10-jpg.pack (docs/gpu.md)")
    parser.add_argument("--pack-sha256", default=PACK_SHA256, help="the pack's expected sha256")
    parser.add_argument(
        "--out", type=Path, default=Path("gpu-check"), help="JSON and markdown go here"
    )
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/gpu-check"), help="data, exports, runs"
    )
    parser.add_argument("--budget-s", type=float, default=450.0, help="the deadline for everything")
    parser.add_argument(
        "--models",
        help=f"models for parity (default: {','.join(PARITY_MODELS)}; dry run: {','.join(DRY_RUN_MODELS)})",
    )
    parser.add_argument(
        "--airbench-script",
        type=Path,
        default=HERE.parent / ".gpu" / "airbench94.py",
        help="airbench94.py as published (docs/gpu.md: not in this repository)",
    )
    parser.add_argument("--steps", help="only these steps (comma-separated; data always runs)")
    parser.add_argument("--dry-run", action="store_true", help="CPU only, tiny sizes")
    parser.add_argument(
        "--results",
        type=Path,
        help=f"write the section here (default: {RESULTS.name} unless --dry-run)",
    )
    parser.add_argument(
        "--report", type=Path, help="write the section of an earlier run's JSON, and stop"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.report:
        write_section(SECTION, report(json.loads(args.report.read_text())), args.results or RESULTS)
        print(f"wrote the {SECTION} section of {args.results or RESULTS}")
        return 0
    if args.pack is None:
        print("gpu_check: --pack PACK is needed (docs/gpu.md)", file=sys.stderr)
        return 2
    check = Check(
        pack=args.pack,
        pack_sha256=args.pack_sha256,
        data_dir=args.work / "cifar10",
        work=args.work,
        out=args.out,
        dry_run=args.dry_run,
        budget=args.budget_s,
        models=tuple(args.models.split(",")) if args.models else models_for(args.dry_run),
        results=args.results if args.results or args.dry_run else RESULTS,
        command=" ".join(
            ["python", "benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        sizes=TINY if args.dry_run else Sizes(),
        cuda_missing=cuda_missing(args.dry_run),
        airbench_script=args.airbench_script,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    run_all(check, set(args.steps.split(",")) if args.steps else None)
    print(f"wrote {args.out / 'gpu-check.json'} and {args.out / 'gpu-check.md'}")
    return 0 if all(s.status in ("ok", "skipped", "not run") for s in check.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
