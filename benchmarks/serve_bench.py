"""`zoo serve`: latency over loopback against the same file in-process, throughput with and
without dynamic batching, and cold start to ready.

    .venv/bin/python benchmarks/serve_bench.py

1. Latency at batch 1: `zoo serve MODEL` (a fresh process, its defaults) and the same ONNX file
   in an ONNX Runtime session of this process (the server's session options), called in
   interleaved blocks: in-process, a kept-alive `http.client` connection sending binary tensors,
   tritonclient.http (binary, its default), `http.client` with JSON tensors. p50 and p99 of each;
   target: p50 over HTTP ≤ in-process + 1 ms or ≤ 1.5× in-process, whichever is larger.
2. Throughput of --model with --clients concurrent clients (asyncio connections of this process,
   each sending its next request when the last is answered, binary tensors at batch 1), against
   two servers started side by side: `--max-batch 32` (dynamic batching) and `--max-batch 1`
   (none), loaded in alternating rounds of --seconds each; target ≥ 2× with batching. The
   servers' CPU time per request (all threads, /proc) is recorded too: on a shared machine it
   depends less than requests/s on what else runs.
3. Cold start: `zoo serve MODEL --port 0` from spawn to the first 200 on /v2/health/ready, the
   export already cached, --starts times, interleaved with `zoo --help` (the command line's own
   start-up, for reference on a shared machine); target ≤ 1.5 s.

The machine's load average is recorded before and after each part: other engineers share it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import http.client
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # serve_support: a zoo serve process
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_file import write_section  # noqa: E402
from serve_support import infer_body, start_server  # noqa: E402

from zoo.machine import this_machine  # noqa: E402
from zoo.serve.sources import exported_once  # noqa: E402

ZOO = str(Path(sys.executable).with_name("zoo"))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} / {five:.1f}"


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50": float(np.median(ms)), "p99": float(np.percentile(ms, 99)), "n": len(ms)}


def latency(model: str, path: Path, calls: int, block: int) -> dict[str, object]:
    """p50/p99 at batch 1: in-process against three clients of one server, interleaved."""
    import onnxruntime as ort
    import tritonclient.http as triton

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape[1:]
    batch = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    server = start_server(model)
    try:
        connection = http.client.HTTPConnection(server.host, server.port)
        binary, binary_headers = infer_body(batch, binary=True)
        as_json, json_headers = infer_body(batch, binary=False)
        client = triton.InferenceServerClient(server.url)
        sent = triton.InferInput("input", list(batch.shape), "FP32")
        sent.set_data_from_numpy(batch)

        def post(body: bytes, headers: dict[str, str]) -> None:
            connection.request("POST", f"/v2/models/{model}/infer", body, headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200

        ways = {
            "in-process (ONNX Runtime session)": lambda: session.run(None, {"input": batch}),
            "HTTP, binary tensors (http.client)": lambda: post(binary, binary_headers),
            "HTTP, tritonclient.http (binary)": lambda: client.infer(model, [sent]),
            "HTTP, JSON tensors (http.client)": lambda: post(as_json, json_headers),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for call in ways.values():  # warm every path
            for _ in range(50):
                call()
        for _ in range(calls // block):
            for name, call in ways.items():
                for _ in range(block):
                    started = time.perf_counter()
                    call()
                    times[name].append(time.perf_counter() - started)
    finally:
        server.stop()
    return {name: percentiles(values) for name, values in times.items()}


async def hammer(
    host: str, port: int, request: bytes, clients: int, seconds: float
) -> tuple[int, int, list[float]]:
    """``clients`` kept-alive connections, each sending ``request`` again as soon as it is
    answered, for ``seconds``: answers, errors and each answer's latency."""
    end = time.perf_counter() + seconds
    latencies: list[float] = []

    async def client() -> tuple[int, int]:
        reader, writer = await asyncio.open_connection(host, port)
        done = errors = 0
        while time.perf_counter() < end:
            started = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            done, errors = (done + 1, errors) if b" 200 " in status else (done, errors + 1)
        writer.close()
        return done, errors

    counts = await asyncio.gather(*(client() for _ in range(clients)))
    return sum(c[0] for c in counts), sum(c[1] for c in counts), latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(
    model: str, path: Path, clients: int, seconds: float, rounds: int
) -> dict[str, object]:
    """Requests per second with and without dynamic batching, in alternating rounds."""
    import onnxruntime as ort

    shape = ort.InferenceSession(str(path)).get_inputs()[0].shape[1:]
    batch = np.random.default_rng(1).standard_normal((1, *shape)).astype(np.float32)
    body, headers = infer_body(batch, binary=True)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    servers = {
        "dynamic batching (--max-batch 32)": start_server(model, "--max-batch", "32"),
        "no batching (--max-batch 1)": start_server(model, "--max-batch", "1"),
    }
    rates: dict[str, list[float]] = {name: [] for name in servers}
    latencies: dict[str, list[float]] = {name: [] for name in servers}
    cpu_ms: dict[str, list[float]] = {name: [] for name in servers}  # server CPU per request
    try:
        for _ in range(rounds):
            for name, server in servers.items():
                request = (
                    f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {server.host}\r\n"
                    f"Content-Length: {len(body)}\r\n{lines}\r\n"
                ).encode() + body
                before = cpu_seconds(server.process.pid)
                done, errors, waited = asyncio.run(
                    hammer(server.host, server.port, request, clients, seconds)
                )
                assert errors == 0, f"{errors} errors from {name}"
                rates[name].append(done / seconds)
                cpu_ms[name].append(1000 * (cpu_seconds(server.process.pid) - before) / done)
                latencies[name] += waited
        rows = batch_rows(servers["dynamic batching (--max-batch 32)"], model)
        per_row = cpu_per_row(path)
    finally:
        for server in servers.values():
            server.stop()
    result = {
        name: {
            "requests_per_s": [round(r, 1) for r in rates[name]],
            "median": statistics.median(rates[name]),
            "server_cpu_ms_per_request": statistics.median(cpu_ms[name]),
            **{k: v for k, v in percentiles(latencies[name]).items() if k != "n"},
        }
        for name in servers
    }
    with_b, without = rates.values()
    paired = [a / b for a, b in zip(with_b, without, strict=True)]  # rounds next to each other
    return {
        "servers": result,
        "paired_ratios": [round(r, 2) for r in paired],
        "mean_rows_per_run_with_batching": rows,
        "cpu_ms_per_row": per_row,
    }


def batch_rows(server: object, model: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    _, _, text = server.call("GET", "/metrics")  # type: ignore[attr-defined]
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
        if sample.labels.get("model") == model and sample.name.startswith("zoo_serve_batch_rows")
    }
    return values["zoo_serve_batch_rows_sum"] / values["zoo_serve_batch_rows_count"]


def cold_start(model: str, starts: int) -> dict[str, object]:
    """Spawn to ready (wall, and the server's CPU until then), interleaved with `zoo --help`."""
    ready, ready_cpu, helps, helps_cpu = [], [], [], []
    for _ in range(starts):
        started = time.perf_counter()
        server = start_server(model)
        ready.append(time.perf_counter() - started)
        ready_cpu.append(cpu_seconds(server.process.pid))
        server.stop(signal.SIGTERM)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([ZOO, "--help"], capture_output=True, check=True)
        helps.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        helps_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {
        "ready_s": [round(s, 3) for s in ready],
        "median_ready_s": statistics.median(ready),
        "median_ready_cpu_s": statistics.median(ready_cpu),
        "median_help_s": statistics.median(helps),
        "median_help_cpu_s": statistics.median(helps_cpu),
    }


def cpu_per_row(path: Path, batches: tuple[int, ...] = (1, 32)) -> dict[int, float]:
    """The file's own CPU milliseconds per row in this process, at each batch size, with the
    server's session options: what batching can save in the runtime itself."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    shape = session.get_inputs()[0].shape[1:]
    found = {}
    for batch in batches:
        data = np.zeros((batch, *shape), np.float32)
        for _ in range(10):
            session.run(None, {"input": data})
        calls = max(20, 3000 // batch)
        started = time.process_time()
        for _ in range(calls):
            session.run(None, {"input": data})
        found[batch] = 1000 * (time.process_time() - started) / calls / batch
    return found


def report(args: argparse.Namespace, found: dict[str, dict[str, object]]) -> str:
    lat = found["latency"]["result"]
    inproc = lat["in-process (ONNX Runtime session)"]["p50"]
    allowed = max(inproc + 1.0, 1.5 * inproc)
    rows = [
        f"| {name} | {v['p50']:.3f} | {v['p99']:.3f} | {v['p50'] - inproc:+.3f} | "
        f"{v['p50'] / inproc:.1f}× |"
        for name, v in lat.items()
    ]
    thr = found["throughput"]["result"]
    servers = thr["servers"]
    with_b, without = servers.values()
    ratio = with_b["median"] / without["median"]
    throughput_rows = [
        f"| {name} | {v['median']:.0f} ({', '.join(f'{r:.0f}' for r in v['requests_per_s'])}) "
        f"| {v['server_cpu_ms_per_request']:.3f} | {v['p50']:.1f} | {v['p99']:.1f} |"
        for name, v in servers.items()
    ]
    cpu_ratio = without["server_cpu_ms_per_request"] / with_b["server_cpu_ms_per_request"]
    cold = found["cold"]["result"]
    binary = lat["HTTP, binary tensors (http.client)"]["p50"]
    triton_p50 = lat["HTTP, tritonclient.http (binary)"]["p50"]
    return "\n".join(
        [
            "## `zoo serve` (`benchmarks/serve_bench.py`)",
            "",
            "```bash",
            f".venv/bin/python benchmarks/serve_bench.py --model {args.model} --calls {args.calls} "
            f"--clients {args.clients} --seconds {args.seconds:g} --rounds {args.rounds} "
            f"--starts {args.starts}",
            "```",
            "",
            f"On {datetime.date.today()}: {this_machine().text()}. The machine was shared with "
            "other engineers' work: each comparison ran side by side (interleaved blocks, "
            "alternating rounds), and the load average (1 / 5 min) is given with each part. "
            "Server and clients share the two cores.",
            "",
            f"**Latency at batch 1**, {args.model} (`zoo serve {args.model}`, its defaults), "
            f"{args.calls} calls each in interleaved blocks of {args.block}; load "
            f"{found['latency']['load']}:",
            "",
            "| path | p50 (ms) | p99 (ms) | p50 − in-process (ms) | p50 ÷ in-process |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"- Target (p50 over HTTP ≤ max(in-process + 1 ms, 1.5× in-process) = {allowed:.3f} "
            f"ms): binary tensors {binary:.3f} ms, tritonclient {triton_p50:.3f} ms: "
            f"{'met' if max(binary, triton_p50) <= allowed else 'NOT met'}.",
            "",
            f"**Throughput**, {args.model}, {args.clients} concurrent clients at batch 1 "
            f"(binary tensors), {args.rounds} alternating rounds of {args.seconds:g} s; load "
            f"{found['throughput']['load']}:",
            "",
            "| server | requests/s, median (rounds) | server CPU per request (ms, median) "
            "| latency p50 (ms) | p99 (ms) |",
            "|---|---|---|---|---|",
            *throughput_rows,
            "",
            f"- With batching ÷ without: **{ratio:.2f}×** (medians; round by round, each pair "
            f"run one after the other: {', '.join(f'{r:.2f}' for r in thr['paired_ratios'])}, "
            f"median {statistics.median(thr['paired_ratios']):.2f}×; target ≥ 2×: "
            f"{'met' if min(ratio, statistics.median(thr['paired_ratios'])) >= 2 else 'NOT met'}"
            "); the batching server ran "
            f"{thr['mean_rows_per_run_with_batching']:.1f} rows per run on average "
            "(`zoo_serve_batch_rows` in /metrics). Server CPU per request (all its threads, "
            f"from /proc, less sensitive to the other work on the machine): {cpu_ratio:.2f}× "
            "less with batching. In this process, the file itself takes "
            f"{thr['cpu_ms_per_row'][1]:.3f} ms of CPU per image at batch 1 and "
            f"{thr['cpu_ms_per_row'][32]:.3f} ms at batch 32: what batching can save in the "
            "runtime; the rest of each request's CPU is HTTP, decoding and answering.",
            "",
            f"**Cold start to ready**, `zoo serve {args.model}` with its export cached, "
            f"{args.starts} starts (spawn to the first 200 on /v2/health/ready, warm-up "
            f"included); load {found['cold']['load']}:",
            "",
            f"- median **{cold['median_ready_s']:.2f} s** (each: "
            f"{', '.join(f'{s:.2f}' for s in cold['ready_s'])}); `zoo --help` in the same "
            f"loop: {cold['median_help_s']:.2f} s. Target ≤ 1.5 s: "
            f"{'met' if cold['median_ready_s'] <= 1.5 else 'NOT met'}. CPU the server used "
            f"until ready (user + system, less sensitive to the machine's load): "
            f"{cold['median_ready_cpu_s']:.2f} s; `zoo --help`'s: "
            f"{cold['median_help_cpu_s']:.2f} s.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifar10-cnn")
    parser.add_argument("--calls", type=int, default=2000, help="latency calls per path")
    parser.add_argument("--block", type=int, default=100, help="calls per interleaved block")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0, help="each throughput round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args()
    path = exported_once(args.model, "default", print)  # the cached export the servers use
    found: dict[str, dict[str, object]] = {}
    parts = {
        "latency": lambda: latency(args.model, path, args.calls, args.block),
        "throughput": lambda: throughput(args.model, path, args.clients, args.seconds, args.rounds),
        "cold": lambda: cold_start(args.model, args.starts),
    }
    for name, run in parts.items():
        before = load()
        result = run()
        found[name] = {"result": result, "load": f"{before} → {load()}"}
        print(json.dumps({name: found[name]}, indent=2), flush=True)
    text = report(args, found)
    if not args.no_write:
        write_section("serve", text, args.results)
    print(text)


if __name__ == "__main__":
    main()
