"""Trained weights: declarations, downloads from a real local HTTP server, create_model with
weights and a new head, the shipped weights reproducing their metrics, and the commands."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURE_PLUGINS, pip_install_target, run_zoo, zoo_here
from PIL import Image
from safetensors.torch import save_file

import zoo
from zoo import meta
from zoo.artifacts.card import ModelCard, Preprocessing
from zoo.artifacts.checkpoint import read_card, save_weights
from zoo.artifacts.run import metric_text
from zoo.errors import ZooError
from zoo.files import sha256_file
from zoo.sources import resolve
from zoo.train.eval_request import EvalRequest
from zoo.train.evaluation import evaluate_weights
from zoo.weights import declared as weights
from zoo.weights.home import weights_dir

SHIPPED_HERE = ("mnist-logreg", "mnist-mlp", "mnist-mlp3", "linear-regression")  # data in zoo

PREDICT_WITHOUT_TORCH = """
import json, sys
from zoo.launch import main
try:
    main()
finally:
    imported = {name: name in sys.modules for name in ("torch", "typer")}
    print(json.dumps(imported), file=sys.stderr)
"""


# -- a real HTTP server on 127.0.0.1 ----------------------------------------------------------


class Server:
    """``http.server`` serving a folder from a thread; counts the requests it answers."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                server.requests.append(self.path)

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(folder: Path) -> Iterator[Server]:
    server = Server(folder)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def zoo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "zoo-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    # the local server is never behind a proxy (urllib keeps the proxies it first saw, such as
    # test_models' refusing one; it checks no_proxy on every request)
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(variable, "127.0.0.1,localhost")
    yield home
    zoo.reload_registry()


# -- small zoo weights files --------------------------------------------------------------------

CLASSES = ("red", "green", "blue")


def web_net(num_classes: int = 3, input_shape: tuple[int, ...] = (3, 2, 2)) -> torch.nn.Module:
    """A linear layer over 3×2×2 inputs."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, num_classes))


def web_card(model: str = "web-net", classes: tuple[str, ...] = CLASSES) -> ModelCard:
    return ModelCard(model=model, preprocessing=Preprocessing((3, 2, 2)), classes=classes)


def write_weights(path: Path, model: str = "web-net", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_weights(path, web_net().state_dict(), web_card(model))


def register_web_net(url: str, sha256: str, **declared: object) -> None:
    declaration = {"name": "v1", "url": url, "sha256": sha256, "classes": list(CLASSES)}
    zoo.register_model("web-net", weights=[declaration | declared])(web_net)


# -- declarations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"name": "v1", "sha256": "0" * 64}, "exactly one of 'file' and 'url'"),
        ({"name": "v1", "sha256": "abc", "file": "w.safetensors"}, "sha256"),
        ({"name": "default", "sha256": "0" * 64, "file": "w.safetensors"}, "name 'default'"),
        ({"name": "v1", "sha256": "0" * 64, "url": "ftp://x/w.safetensors"}, "url 'ftp://"),
        ({"name": "v1", "sha256": "0" * 64, "file": "../w.safetensors"}, "inside the package"),
        ({"name": "v1", "sha256": "0" * 64, "file": "w", "colour": "red"}, "unknown Weights"),
        ({"sha256": "0" * 64, "file": "w"}, "name"),
    ],
)
def test_invalid_declarations_are_refused(declaration: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        meta.coerce(meta.ModelInfo, {"weights": [declaration]})


def test_declarations_as_plain_data_or_helper_and_the_first_is_default() -> None:
    first = {"name": "a", "sha256": "1" * 64, "url": "https://example.org/a.safetensors"}
    second = meta.Weights(name="b", sha256="2" * 64, file="weights/b.safetensors")
    info = meta.coerce(meta.ModelInfo, {"weights": [first, second], "no_weights": ""})
    assert [w.name for w in info.weights] == ["a", "b"]
    assert meta.weights_named(info, "default") is info.weights[0]
    assert meta.weights_named(info, "b") is second and meta.weights_named(info, "c") is None
    with pytest.raises(TypeError, match="more than once"):
        meta.coerce(meta.ModelInfo, {"weights": [first, first]})


def test_a_plugin_with_invalid_weights_is_reported_not_fatal() -> None:
    def broken_weights(num_classes: int = 2) -> torch.nn.Module:
        return torch.nn.Linear(2, num_classes)

    broken_weights.zoo_info = {"weights": [{"name": "x", "sha256": "abc", "file": "w"}]}
    zoo.register_model("broken-weights")(broken_weights)
    with pytest.raises(zoo.PluginError, match="invalid zoo_info: weights 'x' have an invalid sha"):
        zoo.get_model_info("broken-weights")
    from zoo.entry_report import entry_report as describe

    with pytest.raises(zoo.PluginError, match="invalid zoo_info"):
        describe(zoo.get_registry().resolve("model", "broken-weights"))
    assert zoo.create_model("broken-weights").out_features == 2  # the model itself still builds


# -- downloads ----------------------------------------------------------------------------------


def test_download_once_then_cached_with_the_server_stopped(tmp_path: Path, zoo_home: Path) -> None:
    served = write_weights(tmp_path / "served" / "web-net.safetensors")
    with serving(served.parent) as server:
        register_web_net(f"{server.url}/web-net.safetensors", sha256_file(served))
        located = weights.weights_for("web-net", "default")
        assert server.requests == ["/web-net.safetensors"]
    assert located.path.parent == zoo_home / "weights"
    assert sha256_file(located.path) == sha256_file(served)
    assert oct(located.path.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(located.path.parent) == [located.path.name]  # no partial files left
    again = weights.weights_for("web-net", "v1")  # the server is gone: the cache answers
    assert again.path == located.path and again.declared.name == "v1"
    model = zoo.create_model("web-net", weights="v1")
    torch.manual_seed(0)
    assert torch.equal(model[1].weight, web_net()[1].weight)  # the served file's tensors


def test_a_corrupt_download_is_removed_and_the_error_says_so(tmp_path: Path, zoo_home: Path):
    served = write_weights(tmp_path / "served" / "web-net.safetensors")
    declared = sha256_file(write_weights(tmp_path / "other.safetensors", seed=1))
    with serving(served.parent) as server:
        register_web_net(f"{server.url}/web-net.safetensors", declared)
        with pytest.raises(ZooError) as raised:
            weights.weights_for("web-net", "default")
    message = str(raised.value)
    assert "does not have the declared sha256" in message and "it was removed" in message
    assert "\n" not in message
    assert not (zoo_home / "weights").exists() or not os.listdir(zoo_home / "weights")


def test_a_cached_file_damaged_later_is_removed(tmp_path: Path, zoo_home: Path) -> None:
    served = write_weights(tmp_path / "served" / "web-net.safetensors")
    with serving(served.parent) as server:
        register_web_net(f"{server.url}/web-net.safetensors", sha256_file(served))
        path = weights.weights_for("web-net", "default").path
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ZooError, match="it was removed"):
        weights.weights_for("web-net", "default")
    assert not path.exists()


def test_missing_file_and_offline_name_the_url_and_where_to_put_the_file(tmp_path: Path) -> None:
    (tmp_path / "served").mkdir()
    with serving(tmp_path / "served") as server:
        url = f"{server.url}/web-net.safetensors"
        register_web_net(url, "3" * 64)
        with pytest.raises(ZooError) as missing:
            weights.weights_for("web-net", "default")
    assert "404" in str(missing.value) and url in str(missing.value)
    with pytest.raises(ZooError) as offline:  # the server is stopped: nothing listens there
        weights.weights_for("web-net", "default")
    expected = weights_dir() / f"web-net-v1-{'3' * 12}.safetensors"
    for raised in (missing, offline):
        message = str(raised.value)
        assert url in message and str(expected) in message and "by hand" in message
        assert "\n" not in message


def test_file_urls_and_the_card_wins_over_what_an_older_declaration_states(tmp_path: Path) -> None:
    served = write_weights(tmp_path / "web-net.safetensors")
    card = read_card(served)
    # declarations once repeated the card's facts; they are accepted, and the card is what counts
    register_web_net(served.as_uri(), sha256_file(served), input_shape=[3, 4, 4], metrics={})
    located = weights.weights_for("web-net", "default")
    assert located.card.input_shape == card.input_shape == (3, 2, 2)
    assert located.declared.stated["input_shape"] == (3, 4, 4)
    register_web_net(served.as_uri(), sha256_file(served), classes=["a", "b", "c"])
    model = zoo.create_model("web-net", weights="v1")
    assert model(torch.zeros(1, 3, 2, 2)).shape == (1, len(card.classes))


HUB_DOWNLOAD = """
import sys, zoo
from zoo.weights import declared as weights
from tests_support_web_net import web_net
url, sha256 = sys.argv[1:]
zoo.register_model("web-net", weights=[{"name": "v1", "url": url, "sha256": sha256}])(web_net)
print(weights.weights_for("web-net", "default").path)
"""


class HubHandler(SimpleHTTPRequestHandler):
    """What the Hugging Face Hub adds to a file's headers: the commit and the file's hash."""

    def end_headers(self) -> None:
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.send_header("ETag", f'"{self.server.sha256}"')  # type: ignore[attr-defined]
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_hf_addresses_download_through_huggingface_hub(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    served = tmp_path / "hub" / "someone" / "web-net" / "resolve" / "v2"
    written = write_weights(served / "web-net.safetensors")
    (tmp_path / "support").mkdir()
    (tmp_path / "support" / "tests_support_web_net.py").write_text(
        "import torch\n\n\ndef web_net(num_classes=3, input_shape=(3, 2, 2)):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, num_classes))\n"
    )
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(HubHandler, directory=str(tmp_path / "hub"))
    )
    httpd.sha256 = sha256_file(written)  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{httpd.server_port}",
        "HF_HOME": str(tmp_path / "hf-home"),
        "ZOO_HOME": str(tmp_path / "zoo-home"),
        "PYTHONPATH": str(tmp_path / "support"),
    }
    try:
        address = "hf://someone/web-net/web-net.safetensors@v2"
        result = subprocess.run(
            [sys.executable, "-c", HUB_DOWNLOAD, address, sha256_file(written)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path / "zoo-home" / "weights"
    assert sha256_file(path) == sha256_file(written)


# -- create_model -------------------------------------------------------------------------------


def test_create_model_with_default_weights_and_a_new_head(caplog) -> None:
    located = weights.weights_for("mnist-mlp", "default")
    from safetensors.torch import load_file

    stored = load_file(str(located.path))
    model = zoo.create_model("mnist-mlp", weights="default")
    assert model.training  # as create_model without weights returns it
    for key, value in model.state_dict().items():
        assert torch.equal(value, stored[key]), key
    with caplog.at_level(logging.WARNING, logger="zoo"):
        five = zoo.create_model("mnist-mlp", weights="mnist-5k", num_classes=5)
    head = ("classifier.2.weight", "classifier.2.bias")
    assert all(name in caplog.text for name in head) and "10 classes, the model 5" in caplog.text
    state = five.state_dict()
    assert state["classifier.2.weight"].shape == (5, 32)
    assert torch.equal(state["classifier.0.weight"], stored["classifier.0.weight"])
    assert not torch.equal(state["classifier.2.weight"], stored["classifier.2.weight"][:5])


def test_bad_weights_files_are_one_line_errors(tmp_path: Path) -> None:
    good = weights.weights_for("mnist-mlp", "default").path
    with pytest.raises(
        ZooError,
        match=r"classifier.0.weight has shape \(32, 784\) in the file and \(64, 784\) in the",
    ):
        zoo.create_model("mnist-mlp", weights=str(good), hidden=64)
    with pytest.raises(ZooError, match="holds weights of model 'mnist-mlp', not 'mnist-logreg'"):
        zoo.create_model("mnist-logreg", weights=str(good))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header")
    with pytest.raises(ZooError, match="corrupt or truncated"):
        zoo.create_model("mnist-mlp", weights=str(junk))
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ZooError, match="not a zoo checkpoint"):
        zoo.create_model("mnist-mlp", weights=str(foreign))
    pickled = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(2)}, pickled)
    for name in (str(pickled), "resnet.pth"):
        with pytest.raises(ZooError, match=r"not a \.safetensors file \(only those are read\)"):
            zoo.create_model("mnist-mlp", weights=name)
    with pytest.raises(ZooError, match="no weights 'imagenet'; it declares mnist-5k"):
        zoo.create_model("mnist-mlp", weights="imagenet")
    with pytest.raises(ZooError, match="no trained weights: Fashion-MNIST is not available"):
        zoo.create_model("fashion-cnn", weights="default")
    result = run_zoo("eval", "mnist-logreg", "--weights", str(good))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "holds weights of model 'mnist-mlp'" in result.stderr


# -- the shipped weights ------------------------------------------------------------------------


@pytest.mark.parametrize("model", SHIPPED_HERE)
def test_shipped_weights_reproduce_their_recorded_metrics(model: str, tmp_path: Path) -> None:
    declared = zoo.get_model_info(model).weights[0]
    path = weights.weights_for(model, "default").path
    assert path.stat().st_size <= 2 * 1024 * 1024 and "Trained with zoo" in declared.note
    card = read_card(path)  # what zoo eval measured, stamped into the card when it shipped
    assert card.evaluated_on == "the test split" and not declared.stated  # one description
    summary = evaluate_weights(resolve(str(path)), EvalRequest(out=str(tmp_path))).summary
    measured = {summary.metric: summary.value, "loss": summary.loss}
    for key, value in card.metrics.items():
        assert metric_text(key, measured[key]) == metric_text(key, value), key


def test_eval_of_a_model_uses_its_weights_own_dataset(tmp_path: Path) -> None:
    result = zoo_here("eval", "mnist-mlp3", "--weights", "default", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    card = weights.weights_for("mnist-mlp3", "default").card
    assert summary["dataset"] == card.dataset == "mnist-5k" and summary["items"] == 1000
    assert f"{100 * summary['accuracy']:.2f}" == f"{100 * card.metrics['accuracy']:.2f}"
    assert Path(summary["output_dir"]) == Path("eval/mnist-mlp3-mnist-5k/mnist-5k-test")
    assert (tmp_path / summary["output_dir"] / "metrics.json").is_file()


def test_info_and_list_show_weights_and_why_there_are_none() -> None:
    shown = zoo_here("info", "mnist-mlp3").stdout
    card = weights.weights_for("mnist-mlp3", "default").card
    assert f"mnist-5k (default): accuracy {100 * card.metrics['accuracy']:.2f} %" in shown
    assert "4,000" in shown and "momentum" in shown
    assert "trained weights: none (Fashion-MNIST" in zoo_here("info", "fashion-cnn").stdout
    assert "23 MB file, too large" in zoo_here("info", "cifar10-vgg").stdout
    report = json.loads(zoo_here("info", "mnist-mlp3", "--json").stdout)
    assert report["default_weights"] == "mnist-5k" and report["weights"][0]["sha256"]
    rows = json.loads(zoo_here("list", "models", "--with-weights", "--json").stdout)
    by_name = {row["name"]: row["weights"] for row in rows}
    assert by_name["mnist-mlp3"] == ["mnist-5k"] and by_name["fashion-cnn"] == []
    assert "weights" not in json.loads(zoo_here("list", "models", "--json").stdout)[0]


# -- commands -----------------------------------------------------------------------------------


def write_digit(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(path)
    return path


def predict_in_fresh_process(*args: str, env: dict[str, str]) -> tuple[list[dict], dict, str]:
    """`zoo predict ... --json` through the console script's entry point in a new interpreter:
    the rows, which of torch and typer it imported, and what it said on stderr."""
    code = f"import sys; sys.argv = ['zoo', *sys.argv[1:]]\n{PREDICT_WITHOUT_TORCH}"
    result = subprocess.run(
        [sys.executable, "-c", code, "predict", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    return json.loads(result.stdout), json.loads(lines[-1]), result.stderr


def test_predict_by_model_name_exports_once_then_runs_without_torch(tmp_path, zoo_home) -> None:
    images = [str(write_digit(tmp_path / f"{i}.png", i)) for i in range(2)]
    env = {"ZOO_HOME": str(zoo_home)}
    first, _, said = predict_in_fresh_process("mnist-mlp3", *images, env=env)
    assert (
        "first use of mnist-mlp3" in said
        and "exporting to ONNX" in said
        and "exported and verified in" in said
    )
    (folder,) = (zoo_home / "predict").iterdir()
    assert (folder / "manifest.json").is_file() and list(folder.glob("*.onnx"))
    again, imported, said = predict_in_fresh_process("mnist-mlp3", *images, "--top-k=5", env=env)
    assert imported == {"torch": False, "typer": False} and "exporting" not in said
    assert again == first and [len(row["outputs"]) for row in again] == [5, 5]
    onnx = next(folder.glob("*.onnx"))
    onnx.write_bytes(onnx.read_bytes()[:100])  # a damaged cache is made again, not trusted
    repaired, _, said = predict_in_fresh_process("mnist-mlp3", *images, env=env)
    assert repaired == first and "exporting to ONNX" in said and "was damaged" in said
    # other weights are another cache entry; unknown ones are the full command's one-line error
    result = run_zoo("predict", "mnist-mlp3", images[0], "--weights", "nope", **env)
    assert result.returncode == 2 and "no weights 'nope'" in result.stderr


def test_quick_path_takes_only_the_plain_form() -> None:
    from zoo.launch import quick_predict
    from zoo.predict.options import PredictOptions

    assert quick_predict(["predict", "mnist-mlp3", "a.png", "--top-k", "3", "--json"]) == (
        PredictOptions("mnist-mlp3", ("a.png",), top_k=3, json=True)
    )
    assert quick_predict(["predict", "linear-regression", "-1,2,3", "--weights=crop-yields"]) == (
        PredictOptions("linear-regression", ("-1,2,3",), weights="crop-yields")
    )
    for args in (
        ["predict", "model.onnx", "a.png"],
        ["predict", "mnist-mlp3", "a.png", "--help"],
        ["predict", "mnist-mlp3", "a.png", "--top-k", "0"],
        ["predict", "mnist-mlp3"],
        ["eval", "mnist-mlp3", "a.png"],
    ):
        assert quick_predict(args) is None, args


def test_fine_tuning_then_export_of_the_newest_run(tmp_path: Path) -> None:
    data = ["-d", "mnist-5k", "--epochs", "1", "--device", "cpu", "--out", "runs"]
    tuned = zoo_here("train", "mnist-mlp3", *data, "--weights", "default", cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr
    assert "initialised from mnist-mlp3 weights 'mnist-5k'" in tuned.stdout
    (run,) = (tmp_path / "runs").iterdir()
    card = json.loads((run / "checkpoints" / "last.json").read_text())
    assert card["initialised_from"].startswith("mnist-mlp3 weights 'mnist-5k' (sha256 ")
    assert card["metrics"]["test_accuracy"] > 0.8  # it started trained (from scratch: ~0.2)
    exported = zoo_here("export", "--onnx", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert f"using the newest run: {Path('runs') / run.name}" in exported.stderr
    manifest = json.loads((tmp_path / "exports" / "mnist-mlp3" / "manifest.json").read_text())
    assert manifest["card"]["weights_sha256"] == sha256_file(run / "checkpoints/last.safetensors")
    quick = ["--backends", "eager,onnxruntime", "--batch-sizes", "1", "--test-samples", "8"]
    quick += ["--iterations", "1", "--min-time", "0", "--max-time", "0.1"]
    benched = zoo_here("bench", *quick, cwd=tmp_path)
    assert benched.returncode == 0, benched.stderr
    assert "using the newest run" in benched.stderr and run.name in benched.stdout
    evaluated = zoo_here("eval", "--json", cwd=tmp_path)  # eval's plan takes the newest run too
    assert evaluated.returncode == 0, evaluated.stderr
    assert "using the newest run" not in evaluated.stderr  # --json: stdout and stderr stay clean
    summary = json.loads(evaluated.stdout)
    assert Path(summary["output_dir"]) == Path("runs") / run.name / "eval" / "mnist-5k-test"
    assert summary["weights_sha256"] == manifest["card"]["weights_sha256"]
    assert (tmp_path / summary["output_dir"] / "metrics.json").is_file()


def test_fine_tuning_on_other_classes_gets_a_new_head(tmp_path: Path) -> None:
    other = ["-d", "synthetic", "--dataset-arg", "image_shape=1,28,28"]
    other += ["--dataset-arg", "num_classes=4", "--dataset-arg", "size=64"]
    result = zoo_here(
        "train", "mnist-mlp", *other, "--weights", "default", "--epochs", "1", "--device", "cpu",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "new head: classifier.2.weight, classifier.2.bias freshly initialised" in result.stdout
    colour = [other[0], other[1], other[2], "image_shape=3,8,8", *other[4:]]
    misfit = zoo_here("train", "mnist-mlp", *colour, "--weights", "default", "--out", str(tmp_path))
    assert misfit.returncode == 2 and len(misfit.stderr.strip().splitlines()) == 1
    assert "classifier.0.weight has shape (32, 784) in the file and (32, 192)" in misfit.stderr


# -- a plugin distribution declaring URL weights, end to end ------------------------------------


def test_plugin_with_url_weights_end_to_end(tmp_path: Path, zoo_home: Path) -> None:
    logreg = weights.weights_for("mnist-logreg", "default")
    accuracy = logreg.card.metrics["accuracy"]
    served = tmp_path / "served" / "web-logreg.safetensors"
    served.parent.mkdir()
    from safetensors.torch import load_file

    save_weights(served, load_file(str(logreg.path)), logreg.card.with_(model="web-logreg"))
    with serving(served.parent) as server:
        source = shutil.copytree(FIXTURE_PLUGINS / "weights", tmp_path / "src" / "weights")
        module = source / "zoo_fixture_weights.py"
        module.write_text(
            module.read_text()
            .replace("@URL@", f"{server.url}/web-logreg.safetensors")
            .replace("@SHA256@", sha256_file(served))
            .replace('"@ACCURACY@"', repr(accuracy))
        )
        site = pip_install_target([source], tmp_path / "site")
        env = {"ZOO_HOME": str(zoo_home)}
        info = run_zoo("info", "web-logreg", site=site, **env)
        assert "digits-v1 (default): accuracy" in info.stdout and server.url in info.stdout
        image = write_digit(tmp_path / "digit.png", 3)
        predicted = run_zoo("predict", "web-logreg", str(image), "--json", site=site, **env)
        assert predicted.returncode == 0, predicted.stderr
        assert len(json.loads(predicted.stdout)[0]["outputs"]) == 5
        assert server.requests == ["/web-logreg.safetensors"]
    # the server is gone: eval uses the cached file, on the weights' own dataset
    evaluated = run_zoo("eval", "web-logreg", "--weights", "default", "--json", site=site,
                        cwd=tmp_path, **env)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"{json.loads(evaluated.stdout)['accuracy']:.4f}" == f"{accuracy:.4f}"
