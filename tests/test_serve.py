"""`zoo serve`: a real server on 127.0.0.1 spoken to by tritonclient (a client nobody here wrote)
and by plain HTTP; its answers equal `zoo predict`'s and the file's own in-process answers,
under concurrent load and while it stops on SIGTERM; bad requests get one JSON line each while
it keeps answering others. Each model is exported once for the module: mnist-mlp3's shipped
weights (as `zoo predict mnist-mlp3` caches them) and a fresh linear-regression."""

from __future__ import annotations

import json
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from conftest import zoo_here
from export_support import quick_export
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families
from serve_support import Server, infer_body, infer_output, start_server

from zoo.artifacts.manifest import Manifest

MODEL = "mnist-mlp3"
FIRST_USE: list[str] = []  # what the first export of MODEL said
pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ZOO_HOME of the module's own, for the server processes and `zoo predict` alike."""
    path = tmp_path_factory.mktemp("zoo-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def mlp(home: Path) -> Path:
    """mnist-mlp3's shipped weights exported and cached as `zoo predict mnist-mlp3` caches them,
    by the child process `zoo serve mnist-mlp3` starts on first use; the ONNX file."""
    from zoo.serve.sources import exported_once

    return exported_once(MODEL, "default", FIRST_USE.append)


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export directory of linear-regression (a table model, fresh weights)."""
    from zoo.sources import SourceRequest

    out = tmp_path_factory.mktemp("regression") / "export"
    quick_export(SourceRequest(spec="linear-regression").resolve(), out, 4, formats=("onnx",))
    return out


@pytest.fixture(scope="module")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of mnist-logreg (fresh weights) for a fixed batch of 2, taking uint8 pixels
    (--embed-preprocessing)."""
    from zoo.sources import SourceRequest

    out = tmp_path_factory.mktemp("fixed") / "export"
    quick_export(
        SourceRequest(spec="mnist-logreg").resolve(),
        out,
        4,
        formats=("onnx",),
        batch=2,
        embed_preprocessing=True,
    )
    return out


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of mnist-mlp (fresh weights: ONNX, OpenVINO IR, TorchScript) whose manifest
    records a `zoo optimize` decision for its OpenVINO IR, on one thread, in float32."""
    import dataclasses

    from test_optimize_rule import decision

    from zoo.artifacts.decision import RunWith
    from zoo.files import write_json
    from zoo.sources import SourceRequest

    out = tmp_path_factory.mktemp("decided") / "export"
    formats = ("onnx", "openvino", "torchscript")
    manifest = quick_export(SourceRequest(spec="mnist-mlp").resolve(), out, 4, formats=formats)
    settings = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    ir = manifest.file("openvino")
    run = RunWith(ir.path, "openvino", "openvino", "fp32", 1, 1, settings=settings)
    chosen = dataclasses.replace(decision(), run=run)
    write_json(out / "manifest.json", dataclasses.replace(manifest, decision=chosen).to_json())
    return out


@pytest.fixture(scope="module")
def server(home: Path, mlp: Path, regression: Path, fixed: Path, decided: Path) -> Iterator[Server]:
    """`zoo serve mnist-mlp3 REGRESSION_DIR FIXED_DIR DECIDED_DIR` with small limits, for every
    test but the stops."""
    limits = ["--max-batch", "8", "--max-delay-ms", "5", "--max-body-mb", "0.25"]
    sources = [MODEL, str(regression), str(fixed), str(decided)]
    running = start_server(*sources, *limits, "--read-timeout-s", "3")
    yield running
    assert running.stop() == 0, running.output()


def expected(path: Path, inputs: np.ndarray) -> np.ndarray:
    """The file's answer in this process, one input at a time (as `zoo predict` runs one)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": row[None]})[0] for row in inputs])


def images(folder: Path) -> list[Path]:
    """A greyscale PNG of the model's size and a colour JPEG of another size."""
    rng = np.random.default_rng(7)
    png, jpeg = folder / "digit.png", folder / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(png)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(jpeg, quality=90)
    return [png, jpeg]


def predicted(paths: list[Path], top_k: int) -> list[dict]:
    result = zoo_here("predict", MODEL, *map(str, paths), "--json", "--top-k", str(top_k))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def same_answer(served: list[dict], predicted_row: list[dict]) -> None:
    assert [o["label"] for o in served] == [o["label"] for o in predicted_row]
    np.testing.assert_allclose(
        [o["value"] for o in served], [o["value"] for o in predicted_row], rtol=1e-5, atol=1e-6
    )


def metric(server: Server, name: str, auth: dict[str, str] | None = None, **labels: str) -> float:
    status, _, text = server.call("GET", "/metrics", headers=auth)
    assert status == 200
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no {name} {labels} in /metrics")


def test_tritonclient_speaks_to_zoo_serve_and_gets_zoo_predicts_answers(
    server: Server, mlp: Path, tmp_path: Path
) -> None:
    import tritonclient.http as triton

    from zoo.predict.onnx import answers, model_input, read_input

    client = triton.InferenceServerClient(server.url)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
    metadata = client.get_server_metadata()
    assert metadata["name"] == "zoo" and "binary_tensor_data" in metadata["extensions"]
    model = client.get_model_metadata(MODEL)
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert model["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]}]
    assert client.get_model_config(MODEL)["max_batch_size"] == 8
    assert {m["name"] for m in client.get_model_repository_index()} == {
        MODEL,
        "linear-regression",
        "mnist-logreg",
        "mnist-mlp",
    }
    manifest = Manifest.read(mlp.parent)
    card, facts = manifest.card, manifest.file("onnx").facts
    paths = images(tmp_path)
    batch = np.stack(
        [
            model_input(
                read_input(str(p), card.preprocessing).array[None], card.preprocessing, facts
            )[0]
            for p in paths
        ]
    )
    sent = triton.InferInput("input", list(batch.shape), "FP32")
    sent.set_data_from_numpy(batch)  # binary, tritonclient's default
    binary = client.infer(MODEL, [sent]).as_numpy("output")
    sent.set_data_from_numpy(batch, binary_data=False)
    as_json = client.infer(
        MODEL, [sent], outputs=[triton.InferRequestedOutput("output", binary_data=False)]
    )
    np.testing.assert_array_equal(as_json.as_numpy("output"), binary)
    np.testing.assert_allclose(binary, expected(mlp, batch), rtol=1e-5, atol=1e-6)
    for row, want in zip(answers(binary, card, facts, 3), predicted(paths, 3), strict=True):
        same_answer([{"label": k, "value": v} for k, v in row], want["outputs"])
    top = client.infer(
        MODEL, [sent], outputs=[triton.InferRequestedOutput("output", class_count=2)]
    )
    best = int(np.argmax(binary[0]))
    assert top.as_numpy("output")[0][0].decode().split(":")[1:] == [str(best), card.classes[best]]
    with pytest.raises(triton.InferenceServerException, match="no model 'nope'"):
        client.infer("nope", [sent])
    maps = Path(f"/proc/{server.process.pid}/maps")
    if maps.exists():  # the server never loaded PyTorch's library
        assert "libtorch" not in maps.read_text()


def test_classify_route_answers_as_zoo_predict_does(server: Server, tmp_path: Path) -> None:
    paths = images(tmp_path)
    for path, want in zip(paths, predicted(paths, 3), strict=True):
        status, body = server.json(
            "POST", f"/v2/models/{MODEL}/classify?top_k=3", path.read_bytes()
        )
        assert status == 200, body
        same_answer(body["outputs"], want["outputs"])
        assert body["notes"] == want["notes"]
    assert "converted to L and resized to 28×28" in body["notes"][0]


def test_a_fixed_batch_file_taking_pixels(server: Server, fixed: Path, tmp_path: Path) -> None:
    """An --embed-preprocessing export for a fixed batch of 2: UINT8 tensors of any batch up to
    2 rows per run (3 rows: padded), and /classify answers as `zoo predict DIR` does."""
    from zoo.predict.onnx import Predictor

    pixels = np.random.default_rng(19).integers(0, 256, (3, 1, 28, 28), dtype=np.uint8)
    body, headers = infer_body(pixels, binary=True)
    status, answer_headers, payload = server.call(
        "POST", "/v2/models/mnist-logreg/infer", body, headers
    )
    assert status == 400  # 3 rows: over the file's own batch of 2
    body, headers = infer_body(pixels[:2], binary=False)
    status, answer_headers, payload = server.call(
        "POST", "/v2/models/mnist-logreg/infer", body, headers
    )
    assert status == 200
    want = Predictor(fixed).run(pixels[:2])
    np.testing.assert_allclose(infer_output(answer_headers, payload), want, rtol=1e-5, atol=1e-6)
    paths = images(tmp_path)
    result = zoo_here("predict", str(fixed), *map(str, paths), "--json", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    for path, row in zip(paths, json.loads(result.stdout), strict=True):
        status, answer = server.json(
            "POST", "/v2/models/mnist-logreg/classify?top_k=3", path.read_bytes()
        )
        assert status == 200, answer
        same_answer(answer["outputs"], row["outputs"])


def test_zoo_optimizes_decision_is_what_is_served(server: Server, decided: Path) -> None:
    """An export directory with a decision: its chosen file (an OpenVINO IR here, companions
    checked) runs in the chosen runtime with the chosen threads and settings."""
    manifest = Manifest.read(decided)
    status, metadata = server.json("GET", "/v2/models/mnist-mlp")
    assert status == 200 and metadata["platform"] == "openvino"
    assert [o["name"] for o in metadata["outputs"]] == ["output"]  # the IR leaves it unnamed
    line = next(line for line in server.stdout if line.startswith("mnist-mlp:"))
    assert manifest.decision.run.file in line and "zoo optimize chose" in line
    assert "openvino" in line and "f32, 1 thread;" in line
    inputs = np.random.default_rng(23).standard_normal((3, 1, 28, 28)).astype(np.float32)
    body, headers = infer_body(inputs, binary=True)
    status, answer_headers, payload = server.call(
        "POST", "/v2/models/mnist-mlp/infer", body, headers
    )
    assert status == 200
    onnx = decided / manifest.file("onnx").path  # the same weights, in ONNX Runtime
    np.testing.assert_allclose(
        infer_output(answer_headers, payload), expected(onnx, inputs), rtol=1e-4, atol=1e-5
    )


def test_a_decision_for_a_pytorch_file_is_refused(decided: Path, tmp_path: Path) -> None:
    import dataclasses
    import shutil

    from zoo.files import write_json

    copy = Path(shutil.copytree(decided, tmp_path / "torch"))
    manifest = Manifest.read(copy)
    script = manifest.file("torchscript")
    run = dataclasses.replace(
        manifest.decision.run, file=script.path, format="torchscript", runtime="torch"
    )
    chosen = dataclasses.replace(manifest.decision, run=run)
    write_json(copy / "manifest.json", dataclasses.replace(manifest, decision=chosen).to_json())
    one_line_error(
        "serve", str(copy), words="zoo optimize chose a torchscript file, which needs PyTorch"
    )
    ir = copy / manifest.file("openvino").path
    one_line_error(
        "serve", str(ir), "--runtime", "onnxruntime", words="runs with --runtime openvino"
    )
    ir.with_suffix(".bin").write_bytes(b"changed")  # a companion of the IR
    one_line_error("serve", str(ir), words="differs from its manifest (sha256)")


def test_concurrent_load_every_answer_is_the_files_own(server: Server, mlp: Path) -> None:
    """240 requests from 8 clients at once, on kept-alive connections, JSON and binary: no
    errors, each answer equal to the file's in this process; dynamic batching joined some."""
    inputs = np.random.default_rng(3).standard_normal((240, 1, 28, 28)).astype(np.float32)
    want = expected(mlp, inputs)
    got: dict[int, np.ndarray] = {}
    errors: list[str] = []
    runs_before = metric(server, "zoo_serve_batch_rows_count", model=MODEL)

    def client(first: int) -> None:
        connection = server.connection()
        for index in range(first, len(inputs), 8):
            body, headers = infer_body(inputs[index : index + 1], binary=index % 2 == 0)
            connection.request("POST", f"/v2/models/{MODEL}/infer", body, headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                errors.append(f"{response.status} {payload[:200]!r}")
                continue
            got[index] = infer_output({k.lower(): v for k, v in response.getheaders()}, payload)[0]
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and len(got) == len(inputs)
    np.testing.assert_allclose(
        np.stack([got[i] for i in range(len(inputs))]), want, rtol=1e-5, atol=1e-6
    )
    runs = metric(server, "zoo_serve_batch_rows_count", model=MODEL) - runs_before
    assert runs < len(inputs)  # some requests shared a run
    assert metric(server, "zoo_serve_requests_total", route="infer", model=MODEL, code="200") >= 240


def test_regression_model_over_json(server: Server, regression: Path) -> None:
    manifest = Manifest.read(regression)
    path = regression / manifest.file("onnx").path
    features = (
        np.random.default_rng(5).standard_normal((3, *manifest.card.input_shape)).astype(np.float32)
    )
    body, headers = infer_body(features, binary=False)
    status, answer_headers, payload = server.call(
        "POST", "/v2/models/linear-regression/infer", body, headers
    )
    assert status == 200
    np.testing.assert_allclose(
        infer_output(answer_headers, payload), expected(path, features), rtol=1e-5, atol=1e-6
    )
    status, error = server.json("POST", "/v2/models/linear-regression/classify", b"\x89PNG")
    assert status == 400 and "takes feature rows, not images" in error["error"]


def tensor_json(
    data: list,
    datatype: str = "FP32",
    rows: int = 1,
    shape: tuple[int, ...] = (1, 28, 28),
    name: str = "input",
) -> bytes:
    """A JSON request of ``rows`` rows of ``shape`` holding ``data`` (repeated for each row)."""
    tensor = {"name": name, "datatype": datatype, "shape": [rows, *shape]}
    return json.dumps({"inputs": [{**tensor, "data": data * rows}]}).encode()


def short_binary() -> tuple[bytes, dict[str, str]]:
    """A binary request whose data is shorter than its binary_data_size says."""
    tensor = {"name": "input", "datatype": "FP32", "shape": [1, 1, 28, 28]}
    header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": 3136}}]}).encode()
    return header + b"\0" * 10, {"Inference-Header-Content-Length": str(len(header))}


def gzip_bomb() -> bytes:
    import gzip

    return gzip.compress(b"\0" * (3 << 20))


BAD_REQUESTS = [  # what a client sends wrong, the status, and words the error must contain
    ("POST", f"/v2/models/{MODEL}/infer", b"{not json", {}, 400, "not valid JSON"),
    ("POST", f"/v2/models/{MODEL}/infer", b"[1, 2]", {}, 400, '"inputs"'),
    ("POST", f"/v2/models/{MODEL}/infer", b"[" * 100_000, {}, 400, "JSON"),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        tensor_json([0] * 784, "FP64"),
        {},
        400,
        "must be FP32",
    ),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        tensor_json([0] * 784, shape=(784,)),
        {},
        400,
        "[-1, 1, 28, 28]",
    ),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        tensor_json(["a"] * 784),
        {},
        400,
        "FP32 numbers",
    ),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        tensor_json([0] * 784, name="image"),
        {},
        400,
        "no input 'image'",
    ),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        tensor_json([0] * 784, rows=9),
        {},
        400,
        "over the 8 this model runs at once",
    ),
    ("POST", f"/v2/models/{MODEL}/infer", *short_binary(), 400, "binary_data_size"),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        b"{}",
        {"Inference-Header-Content-Length": "99"},
        400,
        "Inference-Header-Content-Length",
    ),
    (
        "POST",
        f"/v2/models/{MODEL}/infer",
        gzip_bomb(),
        {"Content-Encoding": "gzip"},
        413,
        "once inflated",
    ),
    ("POST", f"/v2/models/{MODEL}/infer", b"x" * 300_000, {}, 413, "--max-body-mb"),
    (
        "POST",
        "/v2/models/nope/infer",
        b"{}",
        {},
        404,
        f"no model 'nope': this server has '{MODEL}'",
    ),
    ("GET", f"/v2/models/{MODEL}/versions/2", None, {}, 404, "one version"),
    ("GET", "/v3", None, {}, 404, "zoo serve answers"),
    ("GET", f"/v2/models/{MODEL}/infer", None, {}, 405, "use POST"),
    ("POST", f"/v2/models/{MODEL}/classify", b"not an image", {}, 400, "JPEG or PNG"),
    (
        "POST",
        f"/v2/models/{MODEL}/classify",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 99,
        {},
        400,
        "not an image it can decode",
    ),
    ("POST", f"/v2/models/{MODEL}/infer", tensor_json([None] * 784), {}, 400, "not null"),
    (
        "POST",
        "/v2/models/mnist-logreg/infer",
        tensor_json([1.5] * 784, "UINT8", 2),
        {},
        400,
        "whole numbers from 0 to 255",
    ),
    (
        "POST",
        "/v2/models/mnist-logreg/infer",
        tensor_json([256] * 784, "UINT8", 2),
        {},
        400,
        "whole numbers from 0 to 255",
    ),
    ("POST", f"/v2/models/{MODEL}/classify", b"\xff\xd8\xff" + b"\0" * 64, {}, 400, "cannot read"),
    ("POST", f"/v2/models/{MODEL}/classify", b"", {}, 400, "empty"),
    ("POST", f"/v2/models/{MODEL}/classify?top_k=zero", b"", {}, 400, "top_k"),
    (
        "POST",
        f"/v2/models/{MODEL}/classify",
        b"--x\r\n",
        {"Content-Type": "multipart/form-data; boundary=x"},
        415,
        "--data-binary",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "words"), BAD_REQUESTS)
def test_a_bad_request_is_one_json_line(
    server: Server, method, path, body, headers, status, words
) -> None:
    code, _answer_headers, payload = server.call(method, path, body, headers)
    assert code == status, payload
    error = json.loads(payload)["error"]
    assert words in error and "\n" not in error and "Traceback" not in error


def test_bad_clients_never_stop_the_others(server: Server, mlp: Path) -> None:
    """Clients that disconnect mid-body or before their answer, send garbage, or send their body
    too slowly (408 after --read-timeout-s) while others are answered at once."""
    head = f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n"
    gone = socket.create_connection((server.host, server.port))
    gone.sendall(head.encode() + b"{" * 100)
    gone.close()
    body, headers = infer_body(np.zeros((1, 1, 28, 28), np.float32), binary=True)
    waiting = socket.create_connection((server.host, server.port))
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{lines}\r\n"
    waiting.sendall(request.encode() + body)
    waiting.close()  # before its answer
    garbage = socket.create_connection((server.host, server.port))
    garbage.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
    slow = socket.create_connection((server.host, server.port))
    slow.sendall(head.encode() + b'{"inputs"')  # then nothing
    started = time.monotonic()
    inputs = np.random.default_rng(9).standard_normal((5, 1, 28, 28)).astype(np.float32)
    for row, want in zip(inputs, expected(mlp, inputs), strict=True):
        body, headers = infer_body(row[None], binary=False)
        status, answer_headers, payload = server.call(
            "POST", f"/v2/models/{MODEL}/infer", body, headers
        )
        assert status == 200
        np.testing.assert_allclose(
            infer_output(answer_headers, payload)[0], want, rtol=1e-5, atol=1e-6
        )
    # the others were answered while the slow client was still being waited for
    assert select.select([slow], [], [], 0)[0] == [] and time.monotonic() - started < 3
    answer = everything(slow).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 408") and "took over 3 s" in answer
    refused = everything(garbage)
    assert refused.startswith(b"HTTP/1.1 400") or refused == b""  # uvicorn's answer, or a close
    for sock in (slow, garbage):
        sock.close()
    deadline = time.monotonic() + 10
    while metric(server, "zoo_serve_requests_held", model=MODEL) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(server, "zoo_serve_requests_held", model=MODEL) == 0  # nothing leaked
    assert server.process.poll() is None and "Traceback" not in server.output()


def everything(sock: socket.socket) -> bytes:
    """All a server sends on ``sock`` until it closes the connection."""
    sock.settimeout(30)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_metrics_count_requests_errors_latency_and_batches(server: Server) -> None:
    server.call("GET", "/v2/models/nope")
    assert metric(server, "zoo_serve_errors_total", route="metadata", model="", code="404") >= 1
    assert metric(server, "zoo_serve_request_seconds_count", route="ready") >= 1
    assert metric(server, "zoo_serve_batch_rows_count", model=MODEL) >= 1
    assert metric(server, "zoo_serve_queue_depth", model=MODEL) == 0


def test_token_and_bounded_queue(home: Path, mlp: Path) -> None:
    """With --token every route but liveness needs it; a model holding --max-queue requests
    answers the next at once with 503 and Retry-After; SIGTERM runs what was queued (without
    waiting out --max-delay-ms), answers it, and exits 0; --access-log logs every request."""
    import tritonclient.http as triton

    server = start_server(
        MODEL,
        "--access-log",
        "--token",
        "s3cret",
        "--max-queue",
        "2",
        "--max-delay-ms",
        "30000",
        "--max-batch",
        "64",
    )
    auth = {"Authorization": "Bearer s3cret"}
    assert server.call("GET", "/v2/health/live")[0] == 200
    for path in ("/v2/health/ready", "/v2", f"/v2/models/{MODEL}", "/metrics"):
        status, headers, payload = server.call("GET", path)
        assert status == 401 and "Bearer" in headers["www-authenticate"], path
        assert "Authorization: Bearer" in json.loads(payload)["error"]
    assert (
        server.call("GET", "/v2/health/ready", headers={"Authorization": "Bearer wrong"})[0] == 401
    )
    client = triton.InferenceServerClient(server.url)
    assert client.is_server_ready(headers=auth) and not client.is_server_ready()
    inputs = np.random.default_rng(11).standard_normal((2, 1, 28, 28)).astype(np.float32)
    answers: dict[int, np.ndarray] = {}

    def send(index: int) -> None:
        body, headers = infer_body(inputs[index : index + 1], binary=True)
        status, answer_headers, payload = server.call(
            "POST", f"/v2/models/{MODEL}/infer", body, {**headers, **auth}
        )
        assert status == 200
        answers[index] = infer_output(answer_headers, payload)[0]

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while (
        metric(server, "zoo_serve_requests_held", auth, model=MODEL) < 2
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    body, headers = infer_body(inputs[:1], binary=True)
    status, answer_headers, payload = server.call(
        "POST", f"/v2/models/{MODEL}/infer", body, {**headers, **auth}
    )
    assert status == 503 and answer_headers["retry-after"] == "1"
    assert "--max-queue" in json.loads(payload)["error"]
    stopped = time.monotonic()
    assert server.stop() == 0, server.output()
    for thread in threads:
        thread.join(30)
    assert time.monotonic() - stopped < 20  # the queued batch ran at once, not after 30 s
    np.testing.assert_allclose(
        np.stack([answers[0], answers[1]]), expected(mlp, inputs), rtol=1e-5, atol=1e-6
    )
    assert "SIGTERM" in server.output()
    log = "".join(server.stderr)  # --access-log: a line per request, with its status
    assert f'"POST /v2/models/{MODEL}/infer" 503' in log and '"GET /metrics" 401' in log


def test_sigterm_under_load_answers_every_accepted_request(home: Path, mlp: Path) -> None:
    """8 clients send requests without pause; SIGTERM comes mid-way. Every answer that comes back
    is a 200 with the file's own output; the rest were refused at the connection (never accepted),
    none got a 5xx or half an answer; requests in flight at the signal were answered; exit 0."""
    server = start_server(MODEL, "--max-delay-ms", "20", "--max-batch", "64")
    inputs = np.random.default_rng(13).standard_normal((64, 1, 28, 28)).astype(np.float32)
    want = expected(mlp, inputs)
    signalled = threading.Event()
    answered: list[tuple[int, np.ndarray, bool]] = []
    problems: list[str] = []

    def client(seed: int) -> None:
        index = seed
        while True:
            body, headers = infer_body(inputs[index : index + 1], binary=seed % 2 == 0)
            try:
                status, answer_headers, payload = server.call(
                    "POST", f"/v2/models/{MODEL}/infer", body, headers
                )
            except OSError:  # refused or closed before an answer: not accepted
                return
            except Exception as exc:  # half an answer
                problems.append(repr(exc))
                return
            if status != 200:
                problems.append(f"{status}: {payload[:200]!r}")
                return
            answered.append((index, infer_output(answer_headers, payload)[0], signalled.is_set()))
            index = (index + 8) % len(inputs)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    while len(answered) < 100 and server.process.poll() is None:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGTERM)
    signalled.set()
    for thread in threads:
        thread.join(60)
    assert server.process.wait(30) == 0, server.output()
    assert problems == []
    for index, output, _ in answered:
        np.testing.assert_allclose(output, want[index], rtol=1e-5, atol=1e-6)
    assert any(after for _, _, after in answered)  # in flight at the signal, and answered
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=5)
    assert "Traceback" not in server.output()


def one_line_error(*args: str, words: str) -> None:
    result = zoo_here(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_what_cannot_be_served_is_one_line(mlp: Path, regression: Path, tmp_path: Path) -> None:
    import shutil

    changed = Path(shutil.copytree(mlp.parent, tmp_path / "changed"))
    data = bytearray((changed / mlp.name).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight byte: still a valid ONNX file
    (changed / mlp.name).write_bytes(bytes(data))
    one_line_error("serve", str(changed), words="differs from its manifest (sha256)")
    bare = Path(shutil.copyfile(mlp, tmp_path / "bare.onnx"))
    one_line_error("serve", str(bare), words="not listed in a zoo export's manifest.json")
    (tmp_path / "empty").mkdir()
    one_line_error("serve", str(tmp_path / "empty"), words="has no checkpoint")
    one_line_error("serve", "no-such-model", words="unknown model 'no-such-model'")
    one_line_error("serve", "no/such/dir", words="no such export, exported file, ONNX file")
    one_line_error("serve", str(regression), "--host", "0.0.0.0", words="--token")
    one_line_error("serve", str(regression), "--weights", "default", words="--weights goes with")
    one_line_error("serve", str(regression), str(regression), words="would both be served")
    one_line_error("serve", str(regression), "--max-batch", "0", words="--max-batch")
    one_line_error("serve", str(regression), "--runtime", "tensorrt", words="--runtime")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        one_line_error("serve", str(regression), "--port", port, words="cannot listen on")


def test_model_repository_is_tritons_model_config(
    mlp: Path, regression: Path, fixed: Path, decided: Path, tmp_path: Path
) -> None:
    """`zoo model-repo` writes NAME/1/model.onnx (the checked file), labels.txt and a
    config.pbtxt that protobuf parses into tritonclient's own ModelConfig."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    out = tmp_path / "repo"
    args = ("model-repo", MODEL, str(regression), str(fixed), "-o", str(out))
    result = zoo_here(*args, "--max-batch", "16", "--max-delay-ms", "2")
    assert result.returncode == 0, result.stderr

    def parsed(name: str) -> pb.ModelConfig:
        return text_format.Parse((out / name / "config.pbtxt").read_text(), pb.ModelConfig())

    config = parsed(MODEL)
    assert (config.name, config.platform, config.max_batch_size) == (MODEL, "onnxruntime_onnx", 16)
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
        ("input", pb.TYPE_FP32, [1, 28, 28])
    ]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [
        ("output", pb.TYPE_FP32, [10])
    ]
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    manifest = Manifest.read(mlp.parent)
    assert config.output[0].label_filename == "labels.txt"
    assert (out / MODEL / "labels.txt").read_text().splitlines() == list(manifest.card.classes)
    from zoo.files import sha256_file

    assert sha256_file(out / MODEL / "1" / "model.onnx") == manifest.file("onnx").sha256
    table = parsed("linear-regression")
    features = Manifest.read(regression).card.input_shape
    assert list(table.input[0].dims) == list(features) and not table.output[0].label_filename
    batch = parsed("mnist-logreg")
    assert batch.max_batch_size == 0 and list(batch.input[0].dims) == [2, 1, 28, 28]
    assert batch.input[0].data_type == pb.TYPE_UINT8
    assert not batch.HasField("dynamic_batching")
    result = zoo_here("model-repo", str(decided), "-o", str(out))
    assert result.returncode == 0, result.stderr
    ir = parsed("mnist-mlp")
    assert (ir.backend, ir.platform, ir.max_batch_size) == ("openvino", "", 32)
    manifest_ir = Manifest.read(decided).file("openvino")
    copied = out / "mnist-mlp" / "1"
    assert sha256_file(copied / "model.xml") == manifest_ir.sha256
    assert sha256_file(copied / "model.bin") == manifest_ir.companions[0].sha256
    one_line_error(*args, words="already exists: pass --force")
    assert zoo_here(*args, "--force").returncode == 0


def test_fixed_batch_is_padded_and_openvino_answers_alike(mlp: Path, fixed: Path) -> None:
    from zoo.deployed import open_runtime
    from zoo.predict.onnx import Predictor
    from zoo.serve.sources import resolve

    pixels = np.random.default_rng(17).integers(0, 256, (3, 1, 28, 28), dtype=np.uint8)
    inputs = pixels.astype(np.float32) / 255
    padded = open_runtime(
        Manifest.read(fixed).checked_path(fixed, Manifest.read(fixed).file("onnx")),
        "onnxruntime",
        1,
    )
    assert padded.fixed_batch == 2 and padded.inputs[0].shape == (-1, 1, 28, 28)
    assert padded.inputs[0].datatype == "UINT8"
    reference = Predictor(fixed).run(pixels)
    np.testing.assert_allclose(padded.run({"input": pixels})[0], reference, rtol=1e-5, atol=1e-6)
    openvino = open_runtime(mlp, "openvino", 1)
    assert openvino.platform == "openvino" and openvino.outputs[0].shape == (-1, 10)
    np.testing.assert_allclose(
        openvino.run({"input": inputs})[0], expected(mlp, inputs), rtol=1e-4, atol=1e-5
    )
    assert resolve((str(mlp.parent),), None, "openvino", print)[0].runtime == "openvino"


def test_a_hub_release_is_a_source(mlp: Path, home: Path) -> None:
    """A release as `zoo predict hf://...` caches it (weights.json, manifest.json, the ONNX
    file) is served by the name its manifest gives, its file checked."""
    import shutil

    from zoo.serve.sources import resolve

    manifest = Manifest.read(mlp.parent)
    folder = home / "hub" / "someone--mlp" / "main"
    folder.mkdir(parents=True)
    for name in ("manifest.json", mlp.name):
        shutil.copyfile(mlp.parent / name, folder / name)
    declared = {"name": "shipped", "sha256": manifest.card.weights_sha256, "file": "w.safetensors"}
    (folder / "weights.json").write_text(json.dumps({MODEL: [declared]}))
    served = resolve(("hf://someone/mlp",), None, "auto", print)
    assert [(s.name, s.path) for s in served] == [(MODEL, folder / mlp.name)]


def test_a_checkpoint_is_served_as_zoo_predict_caches_it(mlp: Path, home: Path) -> None:
    """Trained weights named by their file (a run's checkpoint) resolve through zoo.sources as
    `zoo predict FILE` does: exported once into its cache folder, then served from there."""
    from zoo.serve.sources import resolve
    from zoo.sources import resolve as named

    checkpoint = named(MODEL).weights_file
    said: list[str] = []
    (served,) = resolve((str(checkpoint),), None, "auto", said.append)
    assert served.name == MODEL and served.path.is_relative_to(home / "predict")
    weights = Manifest.read(mlp.parent).card.weights_sha256  # the same weights
    assert served.path != mlp and served.manifest.card.weights_sha256 == weights
    assert "exporting to ONNX" in said[0]


def test_a_model_name_is_exported_once_in_a_child_process(mlp: Path) -> None:
    from zoo.errors import ZooError
    from zoo.serve.sources import exported_once

    assert "exporting to ONNX" in FIRST_USE[0] and "cached in" in FIRST_USE[-1]
    again: list[str] = []
    assert exported_once(MODEL, "default", again.append) == mlp and again == []
    with pytest.raises(ZooError, match="has no weights 'nope'"):
        exported_once(MODEL, "nope", again.append)
