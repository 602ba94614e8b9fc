"""Dynamic batching: concurrent requests for one model run together, up to ``max_batch`` rows,
the first waiting at most ``max_delay`` seconds for others (0: a batch is what arrived while the
model was busy, Triton's default too). Requests keep their order; each gets its own rows back.

Admission is bounded: a model holds at most ``max_queue`` requests at once (reading their body,
waiting or running), and the next one is refused at once (:class:`Overloaded`, a 503 with
``Retry-After``) rather than queued without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

Feeds = dict[str, np.ndarray]
Run = Callable[[Feeds], list[np.ndarray]]
Observe = Callable[[int, float], None]  # rows of a run, and its seconds


class Overloaded(Exception):
    """The model already holds as many requests as it may."""


@dataclass
class Pending:
    feeds: Feeds
    rows: int
    future: asyncio.Future[list[np.ndarray]]


class Batcher:
    """One model's queue and the task that runs its batches, one at a time, on its own thread."""

    def __init__(
        self, run: Run, max_batch: int, max_delay_s: float, max_queue: int, observe: Observe
    ) -> None:
        self.run, self.max_batch, self.max_delay_s = run, max_batch, max_delay_s
        self.max_queue, self.observe = max_queue, observe
        self.held = 0  # requests admitted and not yet answered
        self.pending: deque[Pending] = deque()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="zoo-serve-model")
        self.wake: asyncio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.draining = False  # the server is stopping: no batch waits for more requests

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold a place for one request for as long as it is being answered."""
        if self.held >= self.max_queue:
            raise Overloaded
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1

    def start(self) -> None:
        self.wake = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self.loop())

    def drain(self) -> None:
        """Run what is queued without waiting for others to join it (the server is stopping)."""
        self.draining = True
        if self.wake is not None:
            self.wake.set()

    async def stop(self) -> None:
        """Stop the batch task (the server calls this once every request was answered)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.executor.shutdown(wait=True)

    async def call(self, function: Callable[[], object]) -> object:
        """``function`` on this model's thread (the warm-up uses it: one run at a time)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, function)

    async def submit(self, feeds: Feeds, rows: int) -> list[np.ndarray]:
        """The outputs for ``feeds`` (``rows`` rows), run in a batch with others."""
        assert self.wake is not None, "start() the batcher first"
        future: asyncio.Future[list[np.ndarray]] = asyncio.get_running_loop().create_future()
        self.pending.append(Pending(feeds, rows, future))
        self.wake.set()
        return await future

    async def loop(self) -> None:
        while True:
            batch = await self.next_batch()
            if batch:
                await self.run_batch(batch)

    async def next_batch(self) -> list[Pending]:
        """The requests of the next run: at least one, at most ``max_batch`` rows in all."""
        assert self.wake is not None
        while not self.pending:
            self.wake.clear()
            await self.wake.wait()
        deadline = time.monotonic() + self.max_delay_s
        while sum(p.rows for p in self.pending) < self.max_batch and not self.draining:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), remaining)
        batch, rows = [], 0
        while self.pending and (not batch or rows + self.pending[0].rows <= self.max_batch):
            item = self.pending.popleft()
            if not item.future.done():  # its client may have gone
                batch.append(item)
                rows += item.rows
        return batch

    async def run_batch(self, batch: list[Pending]) -> None:
        """One run for the whole batch; each request's rows back to it (or the run's error)."""
        names = batch[0].feeds.keys()
        feeds = {name: np.concatenate([p.feeds[name] for p in batch]) for name in names}
        rows = sum(p.rows for p in batch)
        started = time.perf_counter()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.run, feeds
            )
        except Exception as exc:  # the runtime's own error types; each waiting request gets it
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self.observe(rows, time.perf_counter() - started)
        start = 0
        for item in batch:
            if not item.future.done():
                item.future.set_result([out[start : start + item.rows] for out in outputs])
            start += item.rows
