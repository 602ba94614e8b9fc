"""``zoo serve`` and ``zoo model-repo``: verified exports behind the Open Inference Protocol, and
as a Triton/OVMS model repository (the work is in :mod:`zoo.serve`)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer

from zoo.cli.params import parameters, with_options
from zoo.errors import ZooError
from zoo.flags import build
from zoo.serve.options import RepositoryOptions, ServeOptions

SOURCES_HELP = "Export dirs or their files, hf://OWNER/REPO, model names, runs or checkpoints."
SOURCES_METAVAR = "EXPORT_DIR|FILE|hf://OWNER/REPO|MODEL|RUN"


@with_options(parameters(ServeOptions))
def serve(
    sources: Annotated[list[str], typer.Argument(metavar=SOURCES_METAVAR, help=SOURCES_HELP)],
    **values: Any,
) -> None:
    """Serve exported models over HTTP with the Open Inference Protocol (KServe v2, as Triton
    speaks it: tritonclient works), with ONNX Runtime alone (no PyTorch).

    Every file is checked against its manifest (sha256) first; each model is named by its
    manifest. Routes: /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME (inputs and outputs),
    /v2/models/NAME/ready, POST /v2/models/NAME/infer (JSON or binary tensors), POST
    /v2/models/NAME/classify (a JPEG or PNG body: the top classes, prepared as 'zoo predict'
    prepares images), /metrics (Prometheus). Concurrent requests are batched (--max-batch,
    --max-delay-ms); a full queue answers 503, a body over --max-body-mb 413. SIGTERM stops
    gracefully: every accepted request is answered, then exit 0. It listens on 127.0.0.1;
    another --host needs --token (clients send 'Authorization: Bearer TOKEN') or --no-auth. A
    model name (with its --weights), a run or a checkpoint is exported once and cached as 'zoo
    predict' does.
    More: docs/serving.md.

    Examples:

    - `zoo serve exports/cifar10-cnn`
    - `curl --data-binary @cat.jpg http://127.0.0.1:8000/v2/models/cifar10-cnn/classify`
    - `zoo serve cifar10-cnn mnist-mlp3 --port 9000 --max-batch 64 --max-delay-ms 2`
    - `zoo serve exports/cifar10-cnn --host 0.0.0.0 --token "$(openssl rand -hex 16)"`
    """
    try:
        from zoo.serve.server import prepare
    except ImportError as exc:
        raise ZooError(f"zoo serve needs {exc.name}: pip install 'torch-zoo[serve]'") from None

    options = build(ServeOptions, values, sources=tuple(sources))
    configure_logging(options.access_log)
    serving = prepare(options, say)
    for model in serving.models:
        say(model_line(model))
    bearer = " -H 'Authorization: Bearer TOKEN'" if options.bearer else ""
    try_it = f"curl{bearer} {serving.url}/v2/models/{serving.models[0].name}"
    say(f"listening on {serving.url} (try: {try_it}); SIGTERM or Ctrl-C stops")
    code = serving.run()
    if serving.answered_all:
        say("stopped: every accepted request was answered")
    else:
        say("stopped at once (a second Ctrl-C): requests still running were dropped")
    raise typer.Exit(code)


@with_options(parameters(RepositoryOptions))
def model_repo(
    sources: Annotated[list[str], typer.Argument(metavar=SOURCES_METAVAR, help=SOURCES_HELP)],
    **values: Any,
) -> None:
    """Write a Triton (or OpenVINO Model Server) model repository: NAME/1/model.onnx, its
    config.pbtxt (input and output names, datatypes and dims, dynamic batching) and labels.txt.

    The files are checked against their manifests (sha256) and copied; nothing is exported
    again. Run it with `tritonserver --model-repository DIR`, OVMS, or KServe (docs/serving.md).

    Examples:

    - `zoo model-repo exports/cifar10-cnn -o model-repo`
    - `zoo model-repo cifar10-cnn mnist-mlp3 -o model-repo --max-batch 64 --force`
    """
    from pathlib import Path

    from zoo.files import check_folder
    from zoo.serve.repository import write_repository
    from zoo.serve.sources import resolve

    options = build(RepositoryOptions, values, sources=tuple(sources))
    check_folder(Path(options.out), "--out")  # before a model name is exported for it
    served = resolve(options.sources, options.weights, "auto", say)
    out = Path(options.out)
    written = write_repository(served, out, options.max_batch, options.max_delay_ms, options.force)
    for item, folder in zip(served, written, strict=True):
        files = ", ".join(
            sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        )
        say(f"{item.name}: {folder} ({files}) from {item.path}")
    say(f"run it: tritonserver --model-repository {out.resolve()}")


def say(text: str) -> None:
    """One line on stdout, at once (a server's lines are read while it runs)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def model_line(model: Any) -> str:
    """What one served model is: its file (checked), runtime, tensors and batching."""
    runtime = model.runtime
    tensors = " → ".join(
        ", ".join(f"{t.name} {t.datatype} {list(t.shape)}" for t in group)
        for group in (runtime.inputs, runtime.outputs)
    )
    batch = f"batches up to {model.max_batch} rows" if model.max_batch > 1 else "no batching"
    decided = f" (zoo optimize chose {model.served.decided})" if model.served.decided else ""
    return (
        f"{model.name}: {model.served.path} (sha256 checked against its manifest){decided}; "
        f"{runtime.description}; {tensors}; {batch}"
    )


def configure_logging(access_log: bool) -> None:
    """The server's warnings and errors (tracebacks of bugs included) on stderr; the access log
    there too when asked for."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if access_log:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger = logging.getLogger("zoo.serve.access")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
