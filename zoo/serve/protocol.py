"""The Open Inference Protocol's inference request and response (KServe v2, REST), in JSON and
with Triton's binary tensor data extension, which ``tritonclient.http`` uses by default.

A request is a JSON object, optionally followed by raw tensor bytes: the header
``Inference-Header-Content-Length`` says where the JSON ends, and each input sent in binary says
its byte count in ``parameters.binary_data_size``. Outputs go back in binary when the request asks
(``parameters.binary_data`` on an output, or ``binary_data_output`` for all), else as JSON lists.
Triton's classification extension is answered too: an output asked for with
``parameters.classification = K`` comes back as the top K ``"value:index:label"`` strings.

Everything a client can get wrong is a :class:`RequestError` naming what was expected; nothing
here trusts a size, a shape or a name it was sent.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.deployed import NUMPY_TYPES, Tensor

HEADER_LENGTH = "inference-header-content-length"
BYTES = "BYTES"
VERSION = "1"  # every served model has one version


class RequestError(Exception):
    """What a client sent wrong (or cannot have now): an HTTP status and one line for it."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def bad(message: str) -> RequestError:
    return RequestError(400, message)


@dataclass(frozen=True)
class Wanted:
    """An output the client asked for, and how it wants it back."""

    name: str
    binary: bool
    classification: int = 0  # top K as "value:index:label" strings; 0: the tensor itself


@dataclass
class InferRequest:
    """A decoded inference request: its id, the inputs as arrays, the outputs wanted."""

    id: str | None
    inputs: dict[str, np.ndarray]
    rows: int
    wanted: list[Wanted] = field(default_factory=list)


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def described(tensors: tuple[Tensor, ...]) -> str:
    return ", ".join(f"'{t.name}' ({t.datatype} {shape_text(t.shape)})" for t in tensors)


def decode_infer(
    body: bytes,
    header_length: str | None,
    inputs: tuple[Tensor, ...],
    outputs: tuple[Tensor, ...],
    max_batch: int,
) -> InferRequest:
    """An inference request for a model taking ``inputs`` (batch dimension first)."""
    text, binary = split_body(body, header_length)
    try:
        request = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"the request is not valid JSON ({exc}): send an inference request") from None
    except RecursionError:
        raise bad("the request's JSON is nested too deeply to be an inference request") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise bad(
            'the request must be a JSON object with "inputs": a list of tensors, each '
            '{"name", "datatype", "shape", "data"}; this model takes ' + described(inputs)
        )
    given = [item for item in request["inputs"] if isinstance(item, dict)]
    if len(given) != len(request["inputs"]):
        raise bad('each of "inputs" must be a JSON object {"name", "datatype", "shape", "data"}')
    by_name = {t.name: t for t in inputs}
    names = [str(item.get("name")) for item in given]
    unknown = [name for name in names if name not in by_name]
    if unknown or len(set(names)) != len(names) or set(names) != set(by_name):
        problem = f"no input '{unknown[0]}'" if unknown else f"inputs {names}"
        raise bad(f"{problem}: this model takes {described(inputs)}, each once")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for item in given:
        array, offset = input_array(item, by_name[str(item["name"])], binary, offset)
        arrays[str(item["name"])] = array
    if offset != len(binary):
        raise bad(
            f"{len(binary) - offset} bytes of binary data follow the inputs' binary_data_size "
            "in all: they must add up to the bytes after the JSON header"
        )
    rows = {len(a) for a in arrays.values()}
    if len(rows) != 1:
        raise bad("every input must have the same batch size (first dimension)")
    count = rows.pop()
    if count > max_batch:
        raise bad(
            f"a batch of {count} rows is over the {max_batch} this model runs at once "
            "(the server's --max-batch, or the batch its file was exported for)"
        )
    identifier = request.get("id")
    return InferRequest(
        None if identifier is None else str(identifier),
        arrays,
        count,
        wanted_outputs(request, outputs),
    )


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data after it."""
    if header_length is None:
        return body, b""
    if not header_length.strip().isdigit() or int(header_length) > len(body):
        raise bad(
            f"Inference-Header-Content-Length must be the JSON header's length in bytes, at most "
            f"the body's {len(body)}, not '{header_length}'"
        )
    size = int(header_length)
    return body[:size], body[size:]


def input_array(
    item: dict[str, Any], tensor: Tensor, binary: bytes, offset: int
) -> tuple[np.ndarray, int]:
    """One input as an array of the model's datatype and shape; where its binary data ends."""
    where = f"input '{tensor.name}'"
    if item.get("datatype") != tensor.datatype:
        raise bad(f"{where} must be {tensor.datatype}, not {item.get('datatype')!r}")
    shape = item.get("shape")
    expected = f"{shape_text(tensor.shape)} (any batch size first)"
    if not (
        isinstance(shape, list)
        and len(shape) == len(tensor.shape)
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        and shape
        and shape[0] >= 1
        and all(want in (-1, d) for want, d in zip(tensor.shape[1:], shape[1:], strict=True))
    ):
        raise bad(f"{where} must have shape {expected}, not {shape!r}")
    parameters = item.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad(f'{where}: "parameters" must be a JSON object')
    if "shared_memory_region" in parameters:
        raise bad("zoo serve does not support shared memory: send the tensor's data")
    count = math.prod(shape)
    if "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        wanted = count * tensor.dtype.itemsize
        if size != wanted or offset + wanted > len(binary):
            raise bad(
                f"{where}: binary_data_size must be {wanted} ({count} {tensor.datatype} values "
                f"of shape {shape_text(shape)}) and present after the JSON header, not {size!r}"
            )
        data = np.frombuffer(binary, tensor.dtype.newbyteorder("<"), count, offset)
        return data.astype(tensor.dtype).reshape(shape), offset + wanted
    if "data" not in item:
        raise bad(f'{where} needs "data" (a list of {count} numbers) or binary data')
    array = json_array(item["data"], tensor, where)
    if array.size != count:
        raise bad(
            f'{where}: "data" holds {array.size} values, its shape {shape_text(shape)} '
            f"needs {count}"
        )
    return array.reshape(shape), offset


def json_array(data: Any, tensor: Tensor, where: str) -> np.ndarray:
    """JSON numbers (flat, or nested as the shape) as an array of the tensor's datatype: null,
    text, or a value its datatype cannot hold is refused, never turned into NaN or wrapped."""
    wanted = f'{where}: "data" must be {tensor.datatype} numbers'
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, RecursionError) as exc:
        raise bad(f"{wanted} ({exc})") from None
    if values.dtype.kind not in "biuf":
        found = "text" if values.dtype.kind == "U" else "null or other values"
        raise bad(f"{wanted}, not {found}")
    if tensor.dtype.kind in "iu" and values.size:
        limits = np.iinfo(tensor.dtype)
        if values.dtype.kind == "f" or values.min() < limits.min or values.max() > limits.max:
            raise bad(f"{wanted}: whole numbers from {limits.min} to {limits.max}")
    return values.astype(tensor.dtype)


def wanted_outputs(request: dict[str, Any], outputs: tuple[Tensor, ...]) -> list[Wanted]:
    """The outputs asked for (all when none is named), each in binary or JSON."""
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad('"parameters" must be a JSON object')
    binary = parameters.get("binary_data_output") is True
    asked = request.get("outputs")
    if asked is None:
        return [Wanted(t.name, binary) for t in outputs]
    known = {t.name for t in outputs}
    if not isinstance(asked, list) or not all(isinstance(a, dict) for a in asked):
        raise bad('"outputs" must be a list of {"name", "parameters"} objects')
    wanted = []
    for item in asked:
        options = item.get("parameters") or {}
        if item.get("name") not in known or not isinstance(options, dict):
            raise bad(f"no output {item.get('name')!r}: this model returns {described(outputs)}")
        top = options.get("classification", 0)
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise bad(f"classification must be a count of classes, not {top!r}")
        wanted.append(Wanted(str(item["name"]), options.get("binary_data", binary) is True, top))
    return wanted


def encode_infer(
    model: str,
    request: InferRequest,
    outputs: dict[str, np.ndarray],
    labels: tuple[str, ...],
) -> tuple[bytes, dict[str, str]]:
    """The response body (JSON, then any binary outputs) and its headers."""
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for want in request.wanted:
        array = outputs[want.name]
        datatype = datatype_of(array)
        if want.classification:
            array = classified(array, want.classification, labels)
            datatype = BYTES
        entry: dict[str, Any] = {
            "name": want.name,
            "datatype": datatype,
            "shape": list(array.shape),
        }
        if want.binary:
            raw = serialised(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.ravel().tolist()
        tensors.append(entry)
    response: dict[str, Any] = {"model_name": model, "model_version": VERSION, "outputs": tensors}
    if request.id is not None:
        response["id"] = request.id
    header = json.dumps(response, separators=(",", ":")).encode()
    if not chunks:
        return header, {"content-type": "application/json"}
    return header + b"".join(chunks), {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }


DATATYPES = {np.dtype(kind): name for name, kind in NUMPY_TYPES.items()}


def datatype_of(array: np.ndarray) -> str:
    return DATATYPES[array.dtype]


def classified(array: np.ndarray, top: int, labels: tuple[str, ...]) -> np.ndarray:
    """Triton's classification extension: per row the top ``top`` values as
    ``"value:index:label"`` (``"value:index"`` without labels), best first."""
    rows = array.reshape(len(array), -1)
    top = min(top, rows.shape[1])
    names = labels if len(labels) == rows.shape[1] else ()
    result = np.empty((len(rows), top), dtype=object)
    for r, row in enumerate(rows):
        for k, index in enumerate(np.argsort(-row, kind="stable")[:top]):
            label = f":{names[index]}" if names else ""
            result[r, k] = f"{float(row[index]):f}:{index}{label}"
    return result


def serialised(array: np.ndarray) -> bytes:
    """A tensor's bytes as the extension sends them: little-endian, row-major; BYTES elements
    each with a 4-byte little-endian length first."""
    if array.dtype == object:
        parts = [str(value).encode() for value in array.ravel()]
        return b"".join(struct.pack("<I", len(part)) + part for part in parts)
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
