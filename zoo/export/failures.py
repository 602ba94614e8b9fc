"""Keep exporters quiet, and turn their failures into one line naming the op and the format.

The exporters print progress, warnings and pages of diagnostics to stdout, stderr and logging, and
raise exceptions of many types with long messages; zoo shows none of it, only what went wrong.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

from zoo.errors import ZooError

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NO_ONNX_FUNCTION = re.compile(r"No ONNX function found for <OpOverload\(op='(\w+)\.(\w+)'")
TRANSLATING_NODE = re.compile(r"Error when translating node .*?target=torch\.ops\.(\w+)\.(\w+)\.")
LEGACY_SYMBOLIC = re.compile(r"(?:symbolic|decomposition)[^\n]*?'?\b(aten|prims|onnx)::(\w+)")
UNSUPPORTED_OP = re.compile(r"(?:Unsupported|not supported)[^\n]*?\b(aten|prims)[.:]{1,2}(\w+)")
DATA_DEPENDENT = (
    "Could not guard on data-dependent",
    "Data-dependent branching",
    "Dynamic control flow",
)
USER_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\w+)\n(?:\s+([^\n]+))?')


class ExportError(ZooError):
    """A model could not be exported to a format."""


class VerificationError(ExportError):
    """An exported file does not answer like the eager model (or loses too much accuracy)."""


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Send everything written to stdout/stderr (Python and C level) and logging to a buffer."""
    buffer = io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    root = logging.getLogger()
    handler = logging.StreamHandler(buffer)
    quiet = [logging.getLogger(n) for n in ("torch", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in quiet]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in saved:
                os.dup2(sink.fileno(), fd)
            root.addHandler(handler)
            for logger in quiet:
                logger.setLevel(logging.ERROR)
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield buffer
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(ValueError, OSError):
                    stream.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            root.removeHandler(handler)
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)
            sink.seek(0)
            buffer.write(sink.read().decode(errors="replace"))


def chain_text(exc: BaseException) -> str:
    """The messages of an exception and of its causes, colour codes removed."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return ANSI.sub("", "\n".join(parts))


def explain(exc: BaseException, model: str, fmt: str) -> ExportError:
    """One line: why ``model`` cannot be exported to ``fmt``, naming the op if there is one."""
    text = chain_text(exc)
    prefix = f"cannot export model '{model}' to {fmt}"
    match = NO_ONNX_FUNCTION.search(text)
    if match:
        op = "::".join(match.groups())
        return ExportError(
            f"{prefix}: the op {op} has no ONNX function or decomposition in the {fmt} exporter"
        )
    for pattern in (TRANSLATING_NODE, LEGACY_SYMBOLIC, UNSUPPORTED_OP):
        match = pattern.search(text)
        if match:
            op = "::".join(match.groups())
            return ExportError(
                f"{prefix}: the op {op} is not supported by the {fmt} exporter ({detail(text)})"
            )
    if any(marker in text for marker in DATA_DEPENDENT):
        return ExportError(
            f"{prefix}: data-dependent control flow{location(text)}; "
            "use torch.where or torch.cond instead of a Python branch on tensor values"
        )
    return ExportError(f"{prefix}: {detail(text)}")


def detail(text: str) -> str:
    """The most specific line of an exporter message: its innermost summarised cause."""
    summary = text.split("## Exception summary", 1)[-1]
    causes = re.findall(r"<class '[\w.]+\.(\w+)'>: ([^\n]+)", summary)
    if causes:
        name, message = causes[0]
        return f"{name}: {message.strip()}"[:300]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "unknown error")
    return first[:300]


def location(text: str) -> str:
    """`` at FILE:LINE in FUNCTION (`code`)`` for the last user frame quoted in ``text``."""
    frames = [
        m
        for m in USER_FRAME.finditer(text)
        if "site-packages" not in m.group(1) and "/torch/" not in m.group(1)
    ]
    if not frames:
        return ""
    path, line, function, code = frames[-1].groups()
    quoted = f" (`{code.strip()}`)" if code and not code.strip().startswith(("File ", "^")) else ""
    return f" at {os.path.basename(path)}:{line} in {function}{quoted}"
