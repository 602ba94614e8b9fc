"""`zoo train` under torchrun: CPU processes on gloo, each on its shard, rank 0 writing. Ranks
hold identical weights; a worker killed mid-run is restarted by torchrun and the run continues;
Ctrl-C and --resume under torchrun, and two nodes on one machine, end as one uninterrupted run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from safetensors.torch import load_file
from train_support import (
    HERE,
    TINY_DATA,
    environment,
    metrics,
    run_dir,
    saved_epoch,
    wait_for_epoch,
    weights_hash,
)

from zoo.sources import resolve
from zoo.train.evaluation import evaluate_weights

# 64 train images in batches of 8 per process: 4 steps an epoch on each of two processes
TRAIN = ["train", "tiny-net", *TINY_DATA, "--batch-size", "8", "--epochs", "4", "--seed", "5"]
TRAIN += ["--device", "cpu"]
TIMEOUT = 240  # seconds; no test waits for torchrun longer


pytestmark = pytest.mark.usefixtures("tiny_entries")


def torchrun(*options: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *options, str(HERE)]


def popen(command: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """In a session of its own, so that the test can Ctrl-C (or kill) the whole torchrun group."""
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(),
        cwd=cwd,
        start_new_session=True,
    )


@contextlib.contextmanager
def started(
    commands: list[list[str]], cwds: Sequence[Path | None] = ()
) -> Iterator[list[subprocess.Popen[str]]]:
    """torchrun groups, stopped with their workers (which run in sessions of their own) if they
    are still running at the end: SIGTERM makes torchrun stop its workers."""
    places = list(cwds) or [None] * len(commands)
    processes = [popen(command, cwd) for command, cwd in zip(commands, places, strict=True)]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def outputs(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    """Each process's exit status and output, read side by side (no pipe fills up)."""
    with ThreadPoolExecutor(len(processes)) as pool:
        texts = list(pool.map(lambda p: p.communicate(timeout=TIMEOUT)[0], processes))
    return [(p.returncode, text) for p, text in zip(processes, texts, strict=True)]


def run(command: list[str]) -> tuple[int, str]:
    """A torchrun group's exit status and output (stdout and stderr)."""
    with started([command]) as processes:
        return outputs(processes)[0]


@dataclass
class Reference:
    run: Path
    output: str
    hashes: Path  # rank<R>-step<S>.sha256: each rank's weights after each epoch

    @property
    def metrics(self) -> list[dict[str, float]]:
        return metrics(self.run)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """An uninterrupted two-process run, each rank recording a hash of its weights every epoch."""
    out = tmp_path_factory.mktemp("reference")
    hashes = out / "hashes"
    hashes.mkdir()
    command = torchrun("--nproc-per-node", "2", "--standalone")
    command += [*TRAIN, "--model-arg", f"record={hashes}", "--out", str(out / "runs")]
    status, output = run(command)
    assert status == 0, output
    return Reference(run_dir(out / "runs"), output, hashes)


def test_two_processes_train_one_run_with_identical_weights(reference: Reference) -> None:
    assert reference.output.count("× 2 processes") == 1  # rank 0 alone prints
    assert "batch 8 per process, 16 in all" in reference.output
    history = reference.metrics
    assert [m["epoch"] for m in history] == [1, 2, 3, 4]
    assert all(m["train_items"] == 64 for m in history)  # two shards of 32, not 2 × 64
    report = evaluate_weights(resolve(str(reference.run))).summary
    last = json.loads((reference.run / "checkpoints" / "last.json").read_text())
    assert report.metric == "accuracy"
    assert report.value == last["metrics"]["test_accuracy"]  # summed over both ranks
    assert report.items == 16

    recorded = {path.name: path.read_text() for path in reference.hashes.iterdir()}
    for step in (4, 8, 12, 16):  # after each epoch
        assert recorded[f"rank0-step{step}.sha256"] == recorded[f"rank1-step{step}.sha256"]
    assert len(set(recorded.values())) == 4  # and the weights did change
    saved = load_file(reference.run / "checkpoints" / "last.safetensors")
    assert weights_hash(saved) == recorded["rank1-step16.sha256"]


def test_a_worker_killed_mid_run_is_restarted_and_the_run_continues(
    tmp_path: Path, reference: Reference
) -> None:
    marker = tmp_path / "killed"  # rank 1 kills itself at step 10 (epoch 3) unless it exists
    command = torchrun("--nproc-per-node", "2", "--standalone", "--max-restarts", "1")
    command += [*TRAIN, "--model-arg", "die_at=10", "--model-arg", f"marker={marker}"]
    status, output = run([*command, "--out", str(tmp_path / "runs")])
    assert status == 0, output
    assert marker.exists()
    assert "resuming at epoch 3 of 4 epochs (torchrun restart 1)" in output
    run_ = run_dir(tmp_path / "runs")  # the same run, continued
    assert output.count(f"run directory: {run_}") == 3  # first start, restart, end
    assert run_.name.startswith("tiny-net-synthetic-")
    assert metrics(run_) == reference.metrics


def test_ctrl_c_under_torchrun_stops_after_the_epoch_and_resume_matches(
    tmp_path: Path, reference: Reference
) -> None:
    out = tmp_path / "runs"
    command = torchrun("--nproc-per-node", "2", "--standalone")
    with started([[*command, *TRAIN, "--model-arg", "delay=0.25", "--out", str(out)]]) as group:
        run_ = wait_for_epoch(out, 1, group[0])
        os.killpg(group[0].pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        ((_, output),) = outputs(group)
    saved = saved_epoch(run_)
    assert "stopping after this epoch" in output and f"stopped after epoch {saved}" in output
    assert 1 <= saved < 4 and len(metrics(run_)) == saved
    status, output = run([*command, "train", "--resume", str(run_)])
    assert status == 0, output
    assert f"resuming at epoch {saved + 1} of 4" in output
    assert metrics(run_) == reference.metrics


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nodes(args: list[str], cwds: list[Path]) -> list[tuple[int, str]]:
    """Two torchrun "nodes" on 127.0.0.1, one process each, started in ``cwds``: their exit
    statuses and outputs."""
    rendezvous = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d"]
    rendezvous += ["--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", uuid.uuid4().hex]
    commands = [[*torchrun(*rendezvous, "--node-rank", str(rank)), *args] for rank in (0, 1)]
    with started(commands, cwds) as nodes:
        return outputs(nodes)


def test_two_nodes_on_one_machine_train_one_run(tmp_path: Path, reference: Reference) -> None:
    nodes = start_nodes([*TRAIN, "--out", str(tmp_path / "runs")], [tmp_path] * 2)
    assert [status for status, _ in nodes] == [0, 0], nodes
    assert "".join(output for _, output in nodes).count("× 2 processes") == 1
    assert metrics(run_dir(tmp_path / "runs")) == reference.metrics


def test_nodes_that_do_not_share_the_run_directory_are_refused(tmp_path: Path) -> None:
    cwds = [tmp_path / "node0", tmp_path / "node1"]  # --out runs: a different folder on each
    for cwd in cwds:
        cwd.mkdir()
    for status, output in start_nodes([*TRAIN, "--out", "runs"], cwds):
        assert status != 0 and "is not visible to every process" in output, output
        assert "--out must be a folder that all of them share" in output
    assert not list(tmp_path.glob("node*/runs/*/checkpoints"))
