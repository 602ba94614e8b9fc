"""benchmarks/gpu_check.py, the one command that measures zoo on a GPU: its dry run on fake data
in an interpreter that lacks what the GPU machine lacks, its time caps and failures (each step
keeps what it measured), the CIFAR-10 pack it unpacks, and airbench94's table it reads."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
GPU_MACHINE_SITE = Path(__file__).resolve().parent / "gpu_machine_site"
sys.path.insert(0, str(BENCHMARKS))

import airbench_anchor  # noqa: E402
import gpu_check  # noqa: E402
import jpeg_pack  # noqa: E402

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def fake_pack(tmp_path: Path, train: int = 4, test: int = 2) -> tuple[Path, str]:
    """A pack of CIFAR-10-shaped JPEGs in class folders, made as the real one was (zip, then
    jpeg_pack.pack); its path and the file's sha256."""
    rng = np.random.default_rng(0)
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for split, count in (("train", train), ("test", test)):
            for name in CLASSES:
                for index in range(count):
                    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                    encoded = io.BytesIO()
                    Image.fromarray(pixels).save(encoded, "JPEG", quality=75)
                    bundle.writestr(f"{split}/{name}/{index:04d}.jpg", encoded.getvalue())
    pack = tmp_path / "fake.pack"
    with contextlib.redirect_stdout(io.StringIO()):
        jpeg_pack.pack(str(archive), str(pack))
    return pack, hashlib.sha256(pack.read_bytes()).hexdigest()


def test_dry_run_runs_every_step_on_the_cpu_without_what_the_gpu_machine_lacks(
    tmp_path: Path,
) -> None:
    """The whole script as the GPU machine would run it, on the CPU at a tiny size, in an
    interpreter where openvino, optuna, tensorboard, huggingface_hub and mlxtend cannot be
    found: every step finishes, every CUDA part is skipped with its reason, the figures the CPU
    can give are there, and the RESULTS.md section is written."""
    pack, digest = fake_pack(tmp_path)
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nearlier text\n")
    command = [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--dry-run", "--pack", str(pack)]
    command += ["--pack-sha256", digest, "--work", str(tmp_path / "work")]
    command += ["--out", str(tmp_path / "out"), "--results", str(results)]
    environment = {**os.environ, "PYTHONPATH": str(GPU_MACHINE_SITE)}
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    steps = {step["name"]: step for step in data["steps"]}
    assert list(steps) == [name for name, _, _ in gpu_check.STEPS]
    statuses = {name: step["status"] for name, step in steps.items()}
    assert statuses == dict.fromkeys(steps, "ok") | {"torchrun-nccl": "skipped"}  # all on CUDA
    assert "dry run" in steps["torchrun-nccl"]["reason"]
    assert set(data["environment"]["not needed here"].values()) == {"absent"}  # as there
    skipped = {(name, s["what"]) for name, step in steps.items() for s in step["skipped"]}
    for name in ("parity", "time-to-accuracy", "train-speed", "torchrun-nccl", "resume-on-cpu"):
        assert any(step == name for step, _ in skipped), name
    assert all("dry run" in s["why"] for step in steps.values() for s in step["skipped"])
    assert steps["data"]["figures"]["train_images"] == 40
    bench = steps["parity"]["figures"]["cifar10-tinycnn"]
    assert bench["passed"] and {"torchscript", "exported-program", "onnxruntime"} <= {
        row["backend"] for row in bench["parity"] if row["passed"]
    }
    assert any("openvino" in row["backend"] for row in bench["skipped"])  # not on the machine
    assert bench["precision settings"]["cuDNN convolutions"] == "ieee"
    assert steps["time-to-accuracy"]["figures"]["zoo"]["epochs"] == 1
    assert steps["train-speed"]["figures"]["cpu"]["images_per_second"] > 0
    resume = steps["resume-on-cpu"]["figures"]
    assert resume["eval_accuracy"] == pytest.approx(resume["epoch_2_test_accuracy"], abs=0.01)
    logged = (tmp_path / "out" / "gpu-check.log").read_text()
    assert "=== resume-on-cpu: zoo train --resume" in logged
    section = results.read_text()
    assert section.startswith("# Benchmark results\n\nearlier text\n")
    assert "<!-- gpu-check:start -->" in section and "**dry run**" in section
    assert "torchrun --nproc-per-node 1 -m zoo train on NCCL" in section


@pytest.fixture
def check(tmp_path: Path) -> gpu_check.Check:
    return gpu_check.Check(
        pack=tmp_path / "none.pack",
        pack_sha256="0" * 64,
        data_dir=tmp_path / "data",
        work=tmp_path / "work",
        out=tmp_path / "out",
        dry_run=True,
        budget=60,
        models=(),
        results=None,
        command="test",
        cuda_missing="test",
    )


def test_a_failed_or_timed_out_step_keeps_its_figures_and_the_others_run(
    check: gpu_check.Check, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One step fails after measuring something, one outlives its cap (its command's children
    are killed with it), one runs out of the whole budget; the JSON holds every figure."""

    def broken() -> None:
        raise gpu_check.StepFailed("it broke")

    def measures_then_fails(check: gpu_check.Check) -> None:
        check.note(measured=1.5)
        gpu_check.attempt(check, "one part", broken)  # the step goes on to its other parts
        check.note(other_part=True)

    def sleeps(check: gpu_check.Check) -> None:
        check.note(started=True)
        gpu_check.run_command(check, ["sh", "-c", "sleep 60 & sleep 60"])

    def fine(check: gpu_check.Check) -> None:
        check.note(ok=True)

    def data(check: gpu_check.Check) -> None:
        pass

    steps = [("data", 5, data), ("parity", 5, measures_then_fails), ("train-speed", 2, sleeps)]
    steps += [("resume-on-cpu", 5, fine), ("torchrun-nccl", 5, fine)]
    monkeypatch.setattr(gpu_check, "STEPS", steps)
    check.out.mkdir()
    check.budget = 10
    started = time.monotonic()
    gpu_check.run_all(check, None)
    assert time.monotonic() - started < 8
    saved = json.loads((check.out / "gpu-check.json").read_text())
    steps = {step["name"]: step for step in saved["steps"]}
    assert steps["parity"]["status"] == "failed"
    assert steps["parity"]["reason"] == "one part: it broke"
    assert steps["parity"]["figures"] == {"measured": 1.5, "other_part": True}
    assert steps["train-speed"]["status"] == "timed out"
    assert steps["train-speed"]["figures"] == {"started": True}
    assert steps["train-speed"]["commands"][0]["returncode"] == -9
    assert "=== train-speed: sh -c sleep 60 & sleep 60" in (check.out / "gpu-check.log").read_text()
    assert steps["resume-on-cpu"]["status"] == "ok"
    check.started -= 10  # the budget is spent: what is left is skipped, saying why
    gpu_check.run_all(check, {"torchrun-nccl"})
    steps = {step.name: step for step in check.steps}
    assert steps["torchrun-nccl"].status == "skipped"
    assert "budget" in steps["torchrun-nccl"].reason
    assert steps["parity"].status == "not run"


def test_data_step_refuses_a_pack_whose_sha256_differs(
    check: gpu_check.Check, tmp_path: Path
) -> None:
    pack, digest = fake_pack(tmp_path, train=1, test=1)
    check.pack, check.out = pack, tmp_path
    check.step = gpu_check.Step("data", 10)
    with pytest.raises(gpu_check.StepFailed, match="has sha256"):
        gpu_check.step_data(check)
    assert not check.data_dir.exists()
    check.pack_sha256 = digest
    gpu_check.step_data(check)
    assert check.step.figures["test_images"] == 10


def test_a_damaged_pack_restores_nothing(tmp_path: Path) -> None:
    pack, _ = fake_pack(tmp_path, train=1, test=1)
    data = bytearray(pack.read_bytes())
    data[-100] ^= 0xFF  # one byte of the last image
    pack.write_bytes(bytes(data))
    with pytest.raises(jpeg_pack.PackError, match="sha256"):
        jpeg_pack.unpack(str(pack), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


# airbench94.py's table for two runs of two epochs, as its own print_columns and
# print_training_details print it (legacy/airbench94.py at f1c599c; the script is a third party's
# and is not in this repository: .gpu/airbench94.py, docs/gpu.md)
AIRBENCH_TABLE = """\
------------------------------------------------------------------------------------------------------
|  run     |  epoch  |  train_loss  |  train_acc  |  val_acc  |  tta_val_acc  |  total_time_seconds  |
------------------------------------------------------------------------------------------------------
|       0  |      0  |      1.0000  |     0.5000  |   0.9000  |               |              4.5000  |
|          |      1  |      1.0000  |     0.5000  |   0.9000  |               |              5.5000  |
|          |   eval  |              |             |           |       0.9400  |              5.7500  |
------------------------------------------------------------------------------------------------------
|       1  |      0  |      1.0000  |     0.5000  |   0.9000  |               |              3.5000  |
|          |      1  |      1.0000  |     0.5000  |   0.9000  |               |              4.5000  |
|          |   eval  |              |             |           |       0.9400  |              4.7500  |
------------------------------------------------------------------------------------------------------
"""


def test_airbench_table_is_read_as_the_script_prints_it() -> None:
    """Each run's TTA accuracy, its time, and its time at the end of training."""
    assert airbench_anchor.runs_from_table(AIRBENCH_TABLE) == [
        {"tta_accuracy": 0.94, "seconds": 5.75, "train_seconds": 5.5},
        {"tta_accuracy": 0.94, "seconds": 4.75, "train_seconds": 4.5},
    ]


def test_a_script_that_is_not_the_published_one_is_refused(tmp_path: Path) -> None:
    """The anchor runs airbench94.py as published or not at all: a missing or changed copy is
    named, and the GPU check skips that half of its step with the reason."""
    assert "download" in (airbench_anchor.missing(tmp_path / "airbench94.py") or "")
    changed = tmp_path / "airbench94.py"
    changed.write_text("for run in range(25):\n    pass\n")
    assert "not airbench94.py as published" in (airbench_anchor.missing(changed) or "")


@pytest.mark.skipif(
    airbench_anchor.missing(airbench_anchor.SCRIPT) is not None,
    reason="airbench94.py is not in .gpu/ (a third party's script, not in this repository)",
)
def test_the_published_script_changes_only_its_number_of_runs_on_cuda() -> None:
    published = airbench_anchor.SCRIPT.read_text()
    as_run = airbench_anchor.patched(airbench_anchor.SCRIPT, "cuda")
    assert as_run == published.replace("for run in range(25)", "for run in range(RUNS)")
    assert "autocast('cpu'" in airbench_anchor.patched(airbench_anchor.SCRIPT, "cpu")


def test_parity_benches_the_eager_rows_when_the_export_fails(
    check: gpu_check.Check, tmp_path: Path
) -> None:
    """A failed `zoo export` is recorded and the eager rows are benched all the same."""
    pack, digest = fake_pack(tmp_path, train=1, test=2)
    check.pack, check.pack_sha256, check.out = pack, digest, tmp_path
    check.models = ("cifar10-tinycnn",)
    check.sizes = dataclasses.replace(gpu_check.TINY, export_accuracy_samples=0)  # refused
    check.step, check.step_deadline = gpu_check.Step("data", 60), time.monotonic() + 60
    gpu_check.step_data(check)
    check.step = gpu_check.Step("parity", 60)
    gpu_check.step_parity(check)
    (error,) = check.step.errors
    assert error.startswith("cifar10-tinycnn: zoo export") and "--accuracy-samples" in error
    bench = check.step.figures["cifar10-tinycnn"]
    assert bench["export_seconds"] is None and bench["parity"] == []
    assert [row["backend"] for row in bench["accuracy"]] == ["eager"]
    assert {row["batch"] for row in bench["latency"]} == {1, 32}
