"""`zoo sweep` on tiny data: grids, model and optimizer arguments, config files, parallel jobs,
Optuna searches with the median pruner, resume after SIGKILL, bad input, and `zoo runs` grouping.
Real training steps, real run directories, a real Optuna SQLite storage."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import train_support
from conftest import run_zoo
from train_support import TINY_DATA, ok, saved_epoch, start, zoo_cli

from zoo.artifacts.checkpoint import load_checkpoint
from zoo.errors import ZooError
from zoo.sweep import state

optuna = pytest.importorskip("optuna")

TINY = ["tiny-net", *TINY_DATA, "--batch-size", "16", "--device", "cpu", "--epochs", "2"]
PNG = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("tiny_entries")


def sweep_dir(out: Path) -> Path:
    found = list(out.glob("sweep-*"))
    assert len(found) == 1, found
    return found[0]


def read_json(path: Path):
    return json.loads(path.read_text())


def test_grid_sweep_trains_every_combination_and_ranks_them(tmp_path: Path) -> None:
    output = ok(
        "sweep", *TINY, "--grid", "lr=0.02,0.002", "--grid", "batch_size=8,16", "--out", tmp_path
    )
    sweep = sweep_dir(tmp_path)
    assert "4 runs by grid (lr in 0.02, 0.002; batch_size in 8, 16)" in output
    assert (
        "ranked by val accuracy of each run's kept weights (best epoch), on 10 % of the" in output
    )
    for number in range(1, 5):
        assert f"run {number} of 4 finished" in output
    assert "best so far: val accuracy" in output

    rows = read_json(sweep / "results.json")
    assert [row["rank"] for row in rows] == [1, 2, 3, 4]
    values = [row["val_accuracy"] for row in rows]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
    assert {(row["lr"], row["batch_size"]) for row in rows} == {
        (0.02, 8), (0.02, 16), (0.002, 8), (0.002, 16)
    }  # fmt: skip
    with open(sweep / "results.csv") as file:
        table = list(csv.DictReader(file))
    assert [r["run"] for r in table] == [r["run"] for r in rows]
    assert (sweep / "plots" / "sweep.png").read_bytes()[:8] == PNG
    table_text = output[output.index("ranked by") :]  # the printed table, best first
    assert sorted(rows, key=lambda row: table_text.index(row["run"])) == rows

    for row in rows:  # each run is an ordinary run directory with its own parameters
        run = sweep / row["run"]
        config = read_json(run / "config.json")
        assert (config["lr"], config["batch_size"], config["val_split"]) == (
            row["lr"], row["batch_size"], 0.1
        )  # fmt: skip
        record = read_json(run / "sweep_run.json")
        assert record["status"] == "finished" and record["epoch"] == 2
        history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert max(h["val_accuracy"] for h in history) == pytest.approx(row["val_accuracy"])
        assert load_checkpoint(run).path.name == "best.safetensors"
        assert list(run.glob("events.out.tfevents.*"))  # TensorBoard on by default
    ok("eval", sweep / rows[0]["run"], "--split", "val")


def test_model_and_optimizer_arguments_are_swept_with_their_own_types(tmp_path: Path) -> None:
    args = ["--optimizer", "sgd", "--grid", "opt.momentum=0,0.9", "--grid", "model.delay=0,0.001"]
    ok("sweep", *TINY, *args, "--epochs", "1", "--no-tensorboard", "--out", tmp_path)
    sweep = sweep_dir(tmp_path)
    configs = [read_json(path) for path in sorted(sweep.glob("*/config.json"))]
    pairs = {(c["opt_args"]["momentum"], c["model_args"]["delay"]) for c in configs}
    assert pairs == {(0.0, 0.0), (0.0, 0.001), (0.9, 0.0), (0.9, 0.001)}
    assert all(isinstance(c["opt_args"]["momentum"], float) for c in configs)
    plan = read_json(sweep / "sweep.json")["plan"]
    assert plan["axes"] == [
        {"key": "opt.momentum", "values": [0.0, 0.9]},
        {"key": "model.delay", "values": [0.0, 0.001]},
    ]


def test_a_config_file_sweep_table_and_the_test_split_warning(tmp_path: Path) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text(
        'model = "tiny-net"\ndataset = "synthetic"\nepochs = 1\nbatch_size = 16\n'
        'device = "cpu"\nval_split = 0\ntensorboard = false\n'
        "[dataset_args]\nnum_classes = 4\nimage_shape = [3, 8, 8]\nsize = 64\n"
        "[sweep]\nlr = [0.01, 0.001]\nmax_runs = 2\n"
    )
    output = ok("sweep", "--config", config, "--out", tmp_path / "runs")
    assert "warning: these runs validate on the test split (--val-split 0)" in output
    rows = read_json(sweep_dir(tmp_path / "runs") / "results.json")
    assert [row["lr"] for row in sorted(rows, key=lambda r: r["run"])] == [0.01, 0.001]
    assert all("test_accuracy" in row and "val_accuracy" not in row for row in rows)
    assert "test accuracy (test split)" in output
    shared = ok("train", "--config", config, "--print-config")  # zoo train reads the same file
    assert "val_split = 0" in shared and "[sweep]" not in shared


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "batch_size=8,many"], "'batch_size' must be an integer, not 'many'"),
        (["--grid", "lr=0.1,-1"], "--lr must be > 0"),
        (["--grid", "lr="], "empty value"),
        ([], "nothing to sweep"),
        (["--grid", "lr=0.1,0.2,0.3", "--grid", "seed=1,2", "--max-runs", "5"], "makes 6 runs"),
        (["--search", "tpe", "--trials", "200"], "--trials asks for 200 runs"),
        (["--grid", "opt.nosuch=1,2"], "optimizer 'adam' has no parameter 'nosuch'"),
        (["--grid", "out=a,b"], "'out' is fixed for a sweep"),
        (["--grid", "lrr=1,2"], "unknown option 'lrr'"),
        (["--grid", "lr=0.001..0.1"], "a range LOW..HIGH needs --search random or tpe"),
        (["--grid", "lr=0.1", "--grid", "lr=0.2"], "lr swept twice"),
        (["--search", "bayes"], "--search must be one of grid, random, tpe"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--storage", "sqlite:///x.db"], "--storage: for --search random or tpe, not a grid"),
        (["--trials", "3", "--pruner", "none"], "--trials, --pruner: for --search random or tpe"),
    ],
)
def test_bad_input_is_refused_before_any_run(tmp_path: Path, args: list[str], message: str) -> None:
    grid = [] if any(a.startswith("--grid") for a in args) or args == [] else ["--grid", "lr=0.1"]
    result = zoo_cli("sweep", *TINY, *grid, *args, "--out", tmp_path)
    assert isinstance(result.exception, ZooError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing made, nothing run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "lr=0.1,0.2", "--nope"], "No such option: --nope"),
        (["--grid", "batch_size=1.5"], "'batch_size' must be an integer, not '1.5'"),
        (
            [
                "--search",
                "random",
                "--grid",
                "lr=0.1,0.2",
                "--storage",
                "sqlite:////no/such/dir/s.db",
            ],
            "cannot open the Optuna storage 'sqlite:////no/such/dir/s.db'",
        ),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    data = ["--dataset", "synthetic", "--dataset-arg", "image_shape=1,8,8"]
    result = run_zoo("sweep", "mnist-logreg", *data, *args, "--out", str(tmp_path))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not any(tmp_path.iterdir())


def test_jobs_run_combinations_in_parallel_processes(tmp_path: Path) -> None:
    data = ["--dataset", "synthetic", "--dataset-arg", "image_shape=1,8,8"]
    data += ["--dataset-arg", "size=64", "--dataset-arg", "num_classes=4"]
    grid = ["--grid", "lr=0.01,0.001", "--grid", "batch_size=8,16"]
    result = run_zoo(
        "sweep", "mnist-logreg", *data, *grid, "--epochs", "1", "--device", "cpu",
        "--tensorboard", "--jobs", "2", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 runs by grid" in result.stdout and "2 at a time" in result.stdout
    sweep = sweep_dir(tmp_path)
    rows = read_json(sweep / "results.json")
    assert len(rows) == 4 and all(row["status"] == "finished" for row in rows)
    # TensorBoard names its event files after the writing process: two workers wrote them
    pids = {path.name.rsplit(".", 2)[1] for path in sweep.glob("*/events.out.tfevents.*")}
    assert len(pids) == 2


def search_study(sweep: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep / 'study.db'}")


def test_random_search_prunes_runs_that_lag_the_median(tmp_path: Path) -> None:
    args = ["--search", "random", "--trials", "6", "--grid", "lr=0.02,0.0000001"]
    args += ["--startup-trials", "1", "--epochs", "3", "--seed", "1", "--no-tensorboard"]
    output = ok("sweep", *TINY, *args, "--out", tmp_path)
    sweep = sweep_dir(tmp_path)
    study = search_study(sweep, "tiny-net-synthetic")
    states = [trial.state for trial in study.trials]
    assert len(states) == 6
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 6
    assert all(t.params["lr"] == 1e-7 for t in pruned)  # the rate that learns nothing
    rows = {row["run"]: row for row in read_json(sweep / "results.json")}
    for trial in study.trials:
        row = rows[Path(trial.user_attrs["run_dir"]).name]
        assert row["trial"] == trial.number and row["lr"] == trial.params["lr"]
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert row["status"] == "pruned" and row["epochs"] < "3/3"
            assert len(trial.intermediate_values) < 3
        else:
            assert row["status"] == "finished" and trial.value == pytest.approx(row["val_accuracy"])
    assert "pruned:" in output and "(6 of 6 done)" in output


def test_tpe_search_samples_a_log_range(tmp_path: Path) -> None:
    args = ["--search", "tpe", "--trials", "3", "--grid", "lr=0.0001..0.1:log"]
    args += ["--grid", "batch_size=8,16", "--epochs", "1", "--no-tensorboard"]
    ok("sweep", *TINY, *args, "--out", tmp_path)
    study = search_study(sweep_dir(tmp_path), "tiny-net-synthetic")
    assert len(study.trials) == 3
    for trial in study.trials:
        assert 1e-4 <= trial.params["lr"] <= 0.1 and trial.params["batch_size"] in (8, 16)
        assert trial.distributions["lr"].log
    assert study.user_attrs["zoo"]["axes"][0] == {
        "key": "lr", "low": 0.0001, "high": 0.1, "log": True
    }  # fmt: skip


def wait_for(condition, process: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


# about 0.15 s of steps an epoch: a kill after epoch 1 or 2 lands well before the last
SLOW = ["--model-arg", "delay=0.05", "--epochs", "6", "--no-tensorboard"]


def test_resume_after_sigkill_finishes_unfinished_runs_and_repeats_none(tmp_path: Path) -> None:
    process = start("sweep", *TINY, *SLOW, "--grid", "lr=0.02,0.01,0.005", "--out", str(tmp_path))
    wait_for(lambda: list(tmp_path.glob("sweep-*/1-*/checkpoints/last.json")), process)
    sweep = sweep_dir(tmp_path)
    second = next(sweep.glob("1-*"))
    wait_for(lambda: saved_epoch(second) >= 1, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    first = next(sweep.glob("0-*"))
    finished = (first / "checkpoints" / "last.safetensors").stat().st_mtime_ns
    saved = saved_epoch(second)
    assert 1 <= saved < 6 and read_json(second / "sweep_run.json")["status"] == "running"

    output = ok("sweep", "--resume", sweep)
    assert "run 1 of 3" not in output  # finished: not trained again
    assert (first / "checkpoints" / "last.safetensors").stat().st_mtime_ns == finished
    assert f"run 2 of 3 started: lr=0.01, resuming after epoch {saved}" in output
    epochs = [
        json.loads(line)["epoch"] for line in (second / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2, 3, 4, 5, 6]
    rows = read_json(sweep / "results.json")
    assert [row["status"] for row in rows] == ["finished"] * 3
    again = ok("sweep", "--resume", sweep)  # nothing left: nothing trained
    assert "started" not in again


def test_ctrl_c_stops_after_the_epoch_and_resume_finishes(tmp_path: Path) -> None:
    process = start("sweep", *TINY, *SLOW, "--grid", "lr=0.02,0.01", "--out", str(tmp_path))
    wait_for(lambda: any(saved_epoch(run) >= 1 for run in tmp_path.glob("sweep-*/1-*")), process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    sweep = sweep_dir(tmp_path)
    second = next(sweep.glob("1-*"))
    saved = saved_epoch(second)
    assert saved < 6 and "run 2 of 2 interrupted: lr=0.01" in output
    assert f"finish it with:\n  zoo sweep --resume {sweep}" in output
    output = ok("sweep", "--resume", sweep)
    assert f"run 2 of 2 started: lr=0.01, resuming after epoch {saved}" in output
    assert [row["status"] for row in read_json(sweep / "results.json")] == ["finished"] * 2


def test_search_resume_after_sigkill_continues_the_trial_in_its_directory(tmp_path: Path) -> None:
    args = ["--search", "random", "--trials", "3", "--grid", "lr=0.02,0.01", "--pruner", "none"]
    process = start("sweep", *TINY, *SLOW, *args, "--out", str(tmp_path))
    wait_for(lambda: any(saved_epoch(run) >= 1 for run in tmp_path.glob("sweep-*/1-*")), process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    sweep = sweep_dir(tmp_path)
    killed = next(sweep.glob("1-*"))
    saved = saved_epoch(killed)

    output = ok("sweep", "--resume", sweep)
    assert "1 unfinished trial(s) queued again" in output
    assert f"resuming after epoch {saved}" in output
    study = search_study(sweep, "tiny-net-synthetic")
    states = optuna.trial.TrialState
    done = [t for t in study.trials if t.state == states.COMPLETE]
    failed = [t for t in study.trials if t.state == states.FAIL]
    assert len(done) == 3 and [t.number for t in failed] == [1]  # the killed trial, retried
    retry = next(t for t in done if t.system_attrs.get("failed_trial") == 1)
    assert retry.params == failed[0].params
    assert Path(retry.user_attrs["run_dir"]).name == killed.name
    assert sorted(p.name for p in sweep.iterdir() if (p / "config.json").exists()) == sorted(
        Path(t.user_attrs["run_dir"]).name for t in done
    )


def test_two_workers_share_one_sqlite_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    args = ["--search", "random", "--trials", "4", "--grid", "lr=0.0001..0.1:log"]
    args += ["--storage", storage, "--study", "shared", "--model-arg", "delay=0.02"]
    args += ["--no-tensorboard"]
    workers = [start("sweep", *TINY, *args, "--out", str(tmp_path / name)) for name in "ab"]
    outputs = [worker.communicate(timeout=240)[0] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.trials
    assert len(trials) in (4, 5)  # two workers may both start a last trial at once
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    ran = {
        name: [t.number for t in trials if Path(t.user_attrs["run_dir"]).parent.parent.name == name]
        for name in "ab"
    }
    assert ran["a"] and ran["b"], ran  # both workers trained trials of the one study
    assert sorted(ran["a"] + ran["b"]) == [t.number for t in trials]  # each exactly once
    assert len({t.params["lr"] for t in trials}) == len(trials)  # independent samples


def test_resume_takes_the_plan_alone_and_one_process_at_a_time(tmp_path: Path) -> None:
    ok("sweep", *TINY, "--epochs", "1", "--grid", "lr=0.01", "--no-tensorboard", "--out", tmp_path)
    sweep = sweep_dir(tmp_path)
    result = zoo_cli("sweep", "--resume", sweep, "--lr", "0.5")
    assert isinstance(result.exception, ZooError) and "give it alone" in str(result.exception)
    with state.lock(sweep):  # another process driving it
        result = zoo_cli("sweep", "--resume", sweep)
    assert isinstance(result.exception, ZooError)
    message = str(result.exception)
    assert message.startswith(f"the sweep {sweep} is being run by process {os.getpid()} (zoo")
    assert message.endswith("): wait for it, or stop it first")
    assert "every run of the sweep is finished" in ok("sweep", "--resume", sweep)
    result = zoo_cli("sweep", "--resume", tmp_path)
    assert "is not a sweep directory" in str(result.exception)


def test_zoo_runs_groups_a_sweeps_runs(tmp_path: Path) -> None:
    ok("train", *TINY, "--epochs", "1", "--out", tmp_path)
    ok(
        "sweep",
        *TINY,
        "--epochs",
        "1",
        "--grid",
        "lr=0.01,0.001",
        "--no-tensorboard",
        "--out",
        tmp_path,
    )
    sweep = sweep_dir(tmp_path)
    output = ok("runs", tmp_path)
    assert f"sweep {sweep.name} (2 runs)" in output
    rows = json.loads(ok("runs", tmp_path, "--json"))
    assert [row["sweep"] for row in rows] == [None, sweep.name, sweep.name]


def test_missing_optuna_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['optuna'] = None; sys.argv[0] = 'zoo'; "
        "from zoo.cli.app import main; main()"
    )
    data = ["--dataset", "synthetic", "--dataset-arg", "image_shape=1,8,8"]
    result = subprocess.run(
        [sys.executable, "-c", code, "sweep", "mnist-logreg", *data, "--search", "tpe",
         "--grid", "lr=0.1,0.01", "--out", str(tmp_path)],
        capture_output=True, text=True, env=train_support.environment(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --search random and tpe need Optuna: pip install 'torch-zoo[sweep]'"
    )
    assert not any(tmp_path.iterdir())
