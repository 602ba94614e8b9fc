"""The options of ``zoo serve`` and ``zoo model-repo``, each declared once as a field of the
request it fills (:func:`zoo.flags.option`). No numpy, no web framework here: the CLI reads these
declarations at start-up. Help is short; docs/serving.md says more."""

from __future__ import annotations

import os
from dataclasses import dataclass

from zoo import flags
from zoo.flags import flag, option

TOKEN_ENV = "ZOO_SERVE_TOKEN"  # the token, kept out of the process list
RUNTIMES = ("auto", "onnxruntime", "openvino")
WEIGHTS = flags.WEIGHTS.with_help("Weights of MODEL sources: a declared name, 'default' or a file.")
MAX_BATCH = flag(
    "--max-batch",
    help="Most rows per model run; requests are batched up to it (1: no batching). Default 32.",
    kind=int | None,
    min=1,
)
MAX_DELAY_MS = flag(
    "--max-delay-ms",
    help="How long a batch waits for more requests, in ms (default 0: no wait).",
    kind=float | None,
    min=0,
)


@dataclass(frozen=True)
class ServeOptions:
    """A ``zoo serve`` request: what to serve, where, and the limits that protect the server."""

    sources: tuple[str, ...]
    host: str = option(
        "127.0.0.1",
        flag("--host", help="Address to listen on (default 127.0.0.1: this machine only)."),
    )
    port: int = option(
        8000,
        flag("--port", "-p", help="Port (default 8000; 0: any free port).", kind=int | None),
        check=(lambda port: 0 <= port <= 65535, "a port number from 0 to 65535"),
    )
    token: str | None = option(
        None,
        flag("--token", help=f"Bearer token every route but liveness needs (or ${TOKEN_ENV})."),
    )
    no_auth: bool = option(
        False,
        flag("--no-auth", help="Listen beyond loopback without a token, on purpose.", kind=bool),
    )
    weights: str | None = option(None, WEIGHTS)
    max_batch: int = option(32, MAX_BATCH, check=flags.at_least(1))
    max_delay_ms: float = option(0.0, MAX_DELAY_MS, check=flags.at_least(0))
    max_queue: int = option(
        64,
        flag(
            "--max-queue",
            help="Requests a model holds at once; more get 503 and Retry-After. Default 64.",
            kind=int | None,
            min=1,
        ),
        check=flags.at_least(1),
    )
    max_body_mb: float = option(
        32.0,
        flag(
            "--max-body-mb",
            help="Largest request body in MiB (larger: 413). Default 32.",
            kind=float | None,
        ),
        check=(lambda size: size > 0, "a positive number"),
    )
    read_timeout_s: float = option(
        30.0,
        flag(
            "--read-timeout-s",
            help="Seconds a client may take to send its body (slower: 408). Default 30.",
            kind=float | None,
        ),
        check=(lambda seconds: seconds > 0, "a positive number"),
    )
    threads: int | None = option(
        None,
        flag(
            "--threads",
            help="Threads per model (default: the runtime's, one per core).",
            kind=int | None,
            min=1,
        ),
        check=flags.at_least(1),
    )
    runtime: str = option(
        "auto",
        flag(
            "--runtime",
            help="auto (the export's decision, else ONNX Runtime), onnxruntime or openvino.",
        ),
        check=flags.one_of(RUNTIMES),
    )
    access_log: bool = option(
        False, flag("--access-log", help="Log every request on stderr.", kind=bool)
    )

    @property
    def bearer(self) -> str | None:
        """The token: ``--token``, else ``$ZOO_SERVE_TOKEN``; None when neither is set."""
        return self.token or os.environ.get(TOKEN_ENV) or None

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)


@dataclass(frozen=True)
class RepositoryOptions:
    """A ``zoo model-repo`` request: which files go into which Triton/OVMS model repository."""

    sources: tuple[str, ...]
    out: str = option(
        "model-repo",
        flag("--out", "-o", help="The model repository to write into (default: model-repo)."),
    )
    weights: str | None = option(None, WEIGHTS)
    max_batch: int = option(32, MAX_BATCH, check=flags.at_least(1))
    max_delay_ms: float = option(0.0, MAX_DELAY_MS, check=flags.at_least(0))
    force: bool = option(
        False,
        flag("--force", help="Replace a model already in the repository (whole).", kind=bool),
    )
