"""A real `zoo serve` process on 127.0.0.1 for the serving tests (and benchmarks/serve_bench.py),
and plain HTTP calls to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)")


@dataclass
class Server:
    """A `zoo serve` process: its address and what it has printed so far."""

    process: subprocess.Popen[str]
    host: str = ""
    port: int = 0
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: status, headers (lower-case) and body."""
        connection = self.connection()
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def json(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        data = (
            None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        )
        status, _, payload = self.call(method, path, data, headers)
        return status, json.loads(payload) if payload else None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)


def start_server(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> Server:
    """`zoo serve ARGS --port 0` in a fresh process, returned once it answers ready."""
    zoo = Path(sys.executable).with_name("zoo")
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    process = subprocess.Popen(
        [str(zoo), "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    server = Server(process)
    for stream, lines in ((process.stdout, server.stdout), (process.stderr, server.stderr)):
        threading.Thread(
            target=lambda s=stream, k=lines: k.extend(iter(s.readline, "")), daemon=True
        ).start()
    deadline = time.monotonic() + timeout
    while not server.port:
        found = LISTENING.search("".join(server.stdout))
        if found:
            server.host, server.port = found[1], int(found[2])
        elif process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"zoo serve did not start:\n{server.output()}")
        time.sleep(0.02)
    wait_ready(server, deadline)
    return server


def wait_ready(server: Server, deadline: float, headers: dict[str, str] | None = None) -> None:
    while True:
        try:
            status, _, _ = server.call(
                "GET", "/v2/health/ready", headers=headers or ready_headers(server)
            )
            if status == 200:
                return
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"zoo serve never became ready:\n{server.output()}")
        time.sleep(0.02)


def ready_headers(server: Server) -> dict[str, str]:
    """The bearer token the server was started with, if any."""
    args = list(server.process.args)
    if "--token" in args:
        return {"Authorization": f"Bearer {args[args.index('--token') + 1]}"}
    return {}


def infer_body(
    array: np.ndarray, binary: bool, name: str = "input"
) -> tuple[bytes, dict[str, str]]:
    """An inference request for ``array``, its outputs asked for in the same form."""
    datatype = {"float32": "FP32", "uint8": "UINT8"}[str(array.dtype)]
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if not binary:
        tensor["data"] = array.ravel().tolist()
        return json.dumps({"inputs": [tensor]}).encode(), {"Content-Type": "application/json"}
    tensor["parameters"] = {"binary_data_size": array.nbytes}
    header = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}}).encode()
    return header + array.tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def infer_output(headers: dict[str, str], payload: bytes) -> np.ndarray:
    """The first output of an inference response, JSON or binary."""
    length = headers.get("inference-header-content-length")
    header = json.loads(payload[: int(length)] if length else payload)
    output = header["outputs"][0]
    if length:
        data = np.frombuffer(payload[int(length) :], np.float32)
    else:
        data = np.asarray(output["data"], np.float32)
    return data.reshape(output["shape"])
