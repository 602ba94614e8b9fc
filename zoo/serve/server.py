"""``zoo serve``'s engine: sources checked and opened, a socket bound here (so that a port in use
is one line, and port 0 gets a free one the caller can name), then uvicorn on it.

The server answers liveness at once and readiness once every model has run a warm-up batch.
SIGTERM (or Ctrl-C) stops it gracefully: no new connections, every request already being read,
queued or run is answered, then the process exits 0 (130 after Ctrl-C). A second Ctrl-C stops at
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from zoo.deployed import open_runtime
from zoo.errors import ZooError, first_line
from zoo.serve import sources
from zoo.serve.app import Limits, Model, Service, build_app
from zoo.serve.batching import Batcher
from zoo.serve.guard import Guard
from zoo.serve.metrics import Metrics
from zoo.serve.options import TOKEN_ENV, ServeOptions

Say = Callable[[str], None]
GRACE_S = 60  # how long a graceful stop waits for the requests it accepted
KEEP_ALIVE_S = 5


def open_models(options: ServeOptions, metrics: Metrics, say: Say) -> list[Model]:
    """Every source checked against its manifest and opened with its runtime."""
    served = sources.resolve(options.sources, options.weights, options.runtime, say)
    models = []
    for item in served:
        runtime = open_runtime(
            item.path, item.runtime, options.threads or item.threads, item.settings
        )
        max_batch = runtime.fixed_batch or options.max_batch
        batcher = Batcher(
            runtime.run,
            max_batch,
            options.max_delay_ms / 1000,
            options.max_queue,
            metrics.observer(item.name),
        )
        models.append(Model(item, runtime, batcher, max_batch, options.max_delay_ms))
    return models


def loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ZooError(f"--host '{host}' is not an address this machine has") from None
    return all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found)


def check_address(options: ServeOptions) -> None:
    """Beyond loopback, clients must send a token, unless the user said otherwise."""
    if loopback(options.host) or options.bearer is not None or options.no_auth:
        return
    raise ZooError(
        f"--host {options.host} listens beyond this machine: give --token TOKEN (or set "
        f"${TOKEN_ENV}) that clients must send, or --no-auth to serve anyone who connects"
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (connections wait in its backlog until served)."""
    family, kind, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # IPPROTO_TCP named: asyncio turns Nagle's algorithm off only on sockets that say so (with
    # it on, a response's body waits ~40 ms for the client's delayed ACK of its headers)
    sock = socket.socket(family, kind, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ZooError(
            f"cannot listen on {host}:{port}: {exc.strerror or first_line(exc)}"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Graceful(uvicorn.Server):
    """uvicorn's server, stopping on SIGTERM or Ctrl-C without raising the signal again once it
    has stopped (uvicorn re-raises it, which would end the process with the signal's status)."""

    def __init__(self, config: uvicorn.Config, say: Say, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.say, self.on_stop = say, on_stop
        self.stopped_by: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.stop) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self, sig: int, frame: Any) -> None:
        if self.stopped_by is not None:
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        self.stopped_by = sig
        self.should_exit = True
        self.on_stop()
        name = signal.Signals(sig).name
        self.say(f"{name}: no new connections; answering the requests already accepted")


@dataclass
class Serving:
    """A server ready to run: its models, its listening socket, and how it ended."""

    models: list[Model]
    sock: socket.socket
    options: ServeOptions
    metrics: Metrics
    say: Say
    failed: str = ""
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return url_of(self.sock)

    @property
    def answered_all(self) -> bool:
        """Whether the stop answered every accepted request (not after a second Ctrl-C)."""
        return not self.server.force_exit

    def run(self) -> int:
        """Serve until stopped; the exit status (0 after SIGTERM, 130 after Ctrl-C, 2 when a
        model failed its warm-up)."""
        by_name = {m.name: m for m in self.models}
        limits = Limits(self.options.max_body_bytes, self.options.read_timeout_s)
        service = Service(by_name, limits, self.metrics)
        app = build_app(service, self.lifespan)
        guarded = Guard(app, self.options.bearer, self.metrics, by_name, self.options.access_log)
        config = uvicorn.Config(
            guarded,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=GRACE_S,
            server_header=False,
        )
        self.server = Graceful(config, self.say, self.drain)
        self.server.run(sockets=[self.sock])
        if self.failed:
            raise ZooError(self.failed)
        return 130 if self.server.stopped_by == signal.SIGINT else 0

    def drain(self) -> None:
        """Every batcher runs what it holds at once (from the signal handler, on the loop)."""
        if self.loop is not None:
            for model in self.models:
                self.loop.call_soon_threadsafe(model.batcher.drain)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        self.loop = asyncio.get_running_loop()
        for model in self.models:
            model.batcher.start()
            batcher = model.batcher
            self.metrics.watch(
                model.name, lambda b=batcher: len(b.pending), lambda b=batcher: b.held
            )
        warming = asyncio.get_running_loop().create_task(self.warm_up())
        try:
            yield
        finally:
            warming.cancel()
            for model in self.models:
                await model.batcher.stop()

    async def warm_up(self) -> None:
        """Each model runs a batch of zeros (at 1 row and at its largest batch), then is ready."""
        started = time.perf_counter()
        for model in self.models:
            try:
                await model.batcher.call(lambda m=model: m.runtime.warm_up(m.max_batch))
            except Exception as exc:  # the runtime cannot run the file it loaded
                self.failed = f"{model.name} failed its warm-up batch: {first_line(exc)}"
                self.server.should_exit = True
                return
            model.ready = True
        seconds = time.perf_counter() - started
        self.say(f"ready: {len(self.models)} model(s) warmed up in {1000 * seconds:.0f} ms")


def prepare(options: ServeOptions, say: Say) -> Serving:
    """Check the address, resolve, check and open every source, bind the socket."""
    check_address(options)
    metrics = Metrics()
    models = open_models(options, metrics, say)
    return Serving(models, bind(options.host, options.port), options, metrics, say)
