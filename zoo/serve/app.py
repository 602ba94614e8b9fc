"""The ASGI application (Starlette): the Open Inference Protocol's REST routes, an image route,
Prometheus metrics. Models are looked up by the names their manifests give, never by a path a
request carries.

==========================================  =====================================================
``GET  /v2/health/live``                    200 while the process answers (no token needed)
``GET  /v2/health/ready``                   200 once every model ran its warm-up batch, else 503
``GET  /v2``                                server metadata: name, version, extensions
``GET  /v2/models/NAME``                    model metadata: inputs and outputs (name, datatype,
                                            shape; -1 is the batch dimension)
``GET  /v2/models/NAME/ready``              200 once the model is warm, else 503
``POST /v2/models/NAME/infer``              inference: JSON tensors, or Triton's binary tensors
``POST /v2/models/NAME/classify``           a JPEG or PNG body: the top classes (``?top_k=5``)
``GET  /v2/models/NAME/config``             Triton's model configuration, as JSON
``POST /v2/repository/index``               the models and their state (Triton's extension)
``GET  /metrics``                           Prometheus' text format
==========================================  =====================================================

``/v2/models/NAME/versions/1/...`` answers as ``/v2/models/NAME/...`` (one version per model).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zoo.deployed import Runtime
from zoo.errors import ZooError
from zoo.serve import protocol
from zoo.serve.batching import Batcher, Overloaded
from zoo.serve.metrics import CONTENT_TYPE, Metrics
from zoo.serve.protocol import RequestError
from zoo.serve.repository import model_config
from zoo.serve.sources import Served

INLINE_BYTES = 64 * 1024  # bodies up to this size are decoded on the event loop, larger on a thread
IMAGE_FORMATS = ("JPEG", "PNG")
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # how their files begin
MAX_PIXELS = 40_000_000  # larger images are refused before they are decoded
EXTENSIONS = ("binary_tensor_data", "classification", "model_configuration", "model_repository")
RETRY_AFTER = {"retry-after": "1"}
ROUTES_TEXT = (
    "/v2, /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready, "
    "POST /v2/models/NAME/infer, POST /v2/models/NAME/classify, /v2/models/NAME/config, /metrics"
)


@dataclass
class Model:
    """A model on the server: the checked file, its runtime and batcher, and whether it is warm."""

    served: Served
    runtime: Runtime
    batcher: Batcher
    max_batch: int
    max_delay_ms: float
    ready: bool = False

    @property
    def name(self) -> str:
        return self.served.name

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [protocol.VERSION],
            "platform": self.runtime.platform,
            "inputs": [t.to_json() for t in self.runtime.inputs],
            "outputs": [t.to_json() for t in self.runtime.outputs],
        }


@dataclass(frozen=True)
class Limits:
    """What one request may take: its body's size and the time to send it."""

    max_body: int
    read_timeout_s: float


class Service:
    """The routes' handlers, over the server's models."""

    def __init__(self, models: dict[str, Model], limits: Limits, metrics: Metrics) -> None:
        self.models, self.limits, self.metrics = models, limits, metrics

    def model(self, request: Request) -> Model:
        """The model a path names (and its version, when one is named), or a 404 naming them."""
        name = request.path_params["name"]
        model = self.models.get(name)
        if model is None:
            raise RequestError(404, f"no model '{name}': this server has {self.names()}")
        version = request.path_params.get("version")
        if version is not None and version != protocol.VERSION:
            raise RequestError(404, f"model '{name}' has one version, '{protocol.VERSION}'")
        return model

    def names(self) -> str:
        return ", ".join(f"'{name}'" for name in self.models)

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(self, request: Request) -> Response:
        warming = [name for name, model in self.models.items() if not model.ready]
        if warming:
            return JSONResponse({"ready": False, "warming_up": warming}, 503, RETRY_AFTER)
        return JSONResponse({"ready": True})

    async def server(self, request: Request) -> Response:
        import zoo

        return JSONResponse(
            {"name": "zoo", "version": zoo.__version__, "extensions": list(EXTENSIONS)}
        )

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(self.model(request).metadata())

    async def model_ready(self, request: Request) -> Response:
        model = self.model(request)
        body = {"name": model.name, "ready": model.ready}
        return JSONResponse(body, 200 if model.ready else 503, None if model.ready else RETRY_AFTER)

    async def config(self, request: Request) -> Response:
        model = self.model(request)
        config = model_config(model.served, model.runtime, model.max_batch, model.max_delay_ms)
        return JSONResponse(config.to_json())

    async def index(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "name": m.name,
                    "version": protocol.VERSION,
                    "state": "READY" if m.ready else "LOADING",
                }
                for m in self.models.values()
            ]
        )

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.text(), media_type=CONTENT_TYPE)

    async def infer(self, request: Request) -> Response:
        model = self.model(request)
        runtime = model.runtime
        async with self.admitted(model):
            body = await self.body(request)
            decoded = await off_loop(
                len(body),
                protocol.decode_infer,
                body,
                request.headers.get(protocol.HEADER_LENGTH),
                runtime.inputs,
                runtime.outputs,
                model.max_batch,
            )
            results = await self.run(model, decoded.inputs, decoded.rows)
            outputs = {t.name: out for t, out in zip(runtime.outputs, results, strict=True)}
            labels = model.served.manifest.card.classes
            payload, headers = await off_loop(
                decoded.rows * 4096, protocol.encode_infer, model.name, decoded, outputs, labels
            )
        return Response(*compressed(payload, headers, request.headers.get("accept-encoding", "")))

    async def classify(self, request: Request) -> Response:
        model = self.model(request)
        card, facts = model.served.manifest.card, model.served.entry.facts
        if not card.preprocessing.image:
            raise RequestError(
                400, f"model '{model.name}' takes feature rows, not images: use /infer"
            )
        top_k = top_k_of(request, len(card.classes) or 1)
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/"):  # curl -F; --data-binary sends the bytes themselves
            raise RequestError(
                415,
                "send the image itself as the request body (curl --data-binary @cat.jpg), "
                "not a multipart form",
            )
        async with self.admitted(model):
            body = await self.body(request)
            image = await asyncio.to_thread(decoded_image, body, card.preprocessing)
            feeds = {model.runtime.inputs[0].name: image_feed(image.array, card, facts)}
            outputs = await self.run(model, feeds, 1)
        from zoo.predict.onnx import answers

        row = answers(outputs[0], card, facts, top_k)[0]
        return JSONResponse(
            {
                "model_name": model.name,
                "model_version": protocol.VERSION,
                "outputs": [{"label": label, "value": value} for label, value in row],
                "notes": [image.conversion] if image.conversion else [],
            }
        )

    @contextlib.asynccontextmanager
    async def admitted(self, model: Model) -> AsyncIterator[None]:
        """A place in the model's bounded queue for this request, or a 503 to come back later."""
        if not model.ready:
            raise RequestError(
                503, f"model '{model.name}' is warming up: retry in a moment", RETRY_AFTER
            )
        try:
            with model.batcher.admitted():
                yield
        except Overloaded:
            raise RequestError(
                503,
                f"model '{model.name}' already holds {model.batcher.max_queue} requests "
                "(--max-queue): retry later",
                RETRY_AFTER,
            ) from None

    async def run(self, model: Model, feeds: dict[str, np.ndarray], rows: int) -> list[np.ndarray]:
        try:
            return await model.batcher.submit(feeds, rows)
        except Exception as exc:  # the runtime refused a batch it was given: a bug or a bad file
            raise RuntimeError(f"{model.name}: the runtime failed on a batch") from exc

    async def body(self, request: Request) -> bytes:
        """The request body, within the size limit and the time limit, decompressed."""
        limit = self.limits.max_body
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise too_large(declared, limit)

        async def collect() -> bytes:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(f"over {size}", limit)
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            if sys.version_info >= (3, 11):  # a deadline on this task, no task of its own
                async with asyncio.timeout(self.limits.read_timeout_s):
                    body = await collect()
            else:
                body = await asyncio.wait_for(collect(), self.limits.read_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(
                408, f"the request body took over {self.limits.read_timeout_s:g} s to arrive"
            ) from None
        return decompressed(body, request.headers.get("content-encoding", "identity"), limit)


def too_large(size: str, limit: int) -> RequestError:
    return RequestError(
        413,
        f"the request body is {size} bytes, over this server's limit of {limit} (--max-body-mb)",
    )


async def off_loop(size: int, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` here when ``size`` is small, else on a worker thread, so that a large
    body never holds up the other requests."""
    if size <= INLINE_BYTES:
        return function(*args)
    return await asyncio.to_thread(function, *args)


def decompressed(body: bytes, encoding: str, limit: int) -> bytes:
    """A gzip or deflate body inflated, at most ``limit`` bytes (a bomb is a 413)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise RequestError(415, f"Content-Encoding '{encoding}': send gzip, deflate or none")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestError(400, f"the body is not valid {encoding} data ({exc})") from None
    if len(data) > limit:
        raise too_large("over that once inflated", limit)
    if not inflater.eof:
        raise RequestError(400, f"the {encoding} body is cut short")
    return data


def compressed(payload: bytes, headers: dict[str, str], accepted: str) -> tuple[Any, ...]:
    """The response compressed as the client accepts (gzip or deflate), else as it is."""
    accepts = {part.split(";")[0].strip() for part in accepted.lower().split(",")}
    for encoding, wbits in (("gzip", 16 | zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS)):
        if encoding in accepts:
            packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
            payload = packer.compress(payload) + packer.flush()
            return payload, 200, {**headers, "content-encoding": encoding}
    return payload, 200, headers


def top_k_of(request: Request, classes: int) -> int:
    text = request.query_params.get("top_k", "5")
    if not text.isdigit() or int(text) < 1:
        raise RequestError(400, f"top_k must be a whole number of classes from 1, not '{text}'")
    return min(int(text), classes)


def decoded_image(body: bytes, preprocessing: Any) -> Any:
    """The body as the model's input image (what ``zoo predict`` reads from a file)."""
    from zoo.predict.onnx import read_image

    if not body:
        raise RequestError(400, "the request body is empty: send a JPEG or PNG image")
    if not body.startswith(IMAGE_SIGNATURES):
        raise RequestError(400, f"the request body ({len(body)} bytes) is not a JPEG or PNG image")
    try:
        return read_image(
            io.BytesIO(body), preprocessing, "the request body", IMAGE_FORMATS, MAX_PIXELS
        )
    except ZooError as exc:
        raise RequestError(400, f"{exc} (expected a JPEG or PNG image)") from None


def image_feed(array: np.ndarray, card: Any, facts: Any) -> np.ndarray:
    from zoo.predict.onnx import model_input

    return model_input(array[None], card.preprocessing, facts)


async def request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.message}, exc.status, exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) as the protocol's JSON errors."""
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}: zoo serve answers {ROUTES_TEXT}"
    elif exc.status_code == 405:
        allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow", "")
        message = f"{request.method} is not allowed on {request.url.path}: use {allowed}"
    return JSONResponse({"error": message}, exc.status_code, exc.headers)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client went away mid-request: nobody reads this answer (the access log does)."""
    return Response(status_code=499)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug: the client gets one line, the server's log gets the traceback."""
    return JSONResponse({"error": "internal error: the server's log has the details"}, 500)


def build_app(service: Service, lifespan: Callable[[Any], Any]) -> Starlette:
    s = service
    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    routes = [  # the busiest first: Starlette tries them in order
        Route(model + "/infer", s.infer, methods=["POST"]),
        Route(model + "/classify", s.classify, methods=["POST"]),
        Route("/v2/health/live", s.live),
        Route("/v2/health/ready", s.ready),
        Route("/v2", s.server),
        Route("/v2/repository/index", s.index, methods=["POST"]),
        Route("/metrics", s.metrics_text),
        Route(model, s.metadata),
        Route(model + "/ready", s.model_ready),
        Route(model + "/config", s.config),
        Route(versioned + "/infer", s.infer, methods=["POST"]),
        Route(versioned + "/classify", s.classify, methods=["POST"]),
        Route(versioned, s.metadata),
        Route(versioned + "/ready", s.model_ready),
        Route(versioned + "/config", s.config),
    ]
    handlers = {
        RequestError: request_error,
        HTTPException: http_error,
        ClientDisconnect: client_gone,
        Exception: internal_error,
    }
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
