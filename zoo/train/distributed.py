"""DistributedDataParallel under torchrun: the process group (gloo on CPU, NCCL on GPUs), its
own key-value store that survives elastic restarts, and the few collective answers the trainer
needs (sums, "does any rank say so", rank 0's run directory on every rank)."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from zoo.errors import ZooError
from zoo.train.data import Shard

STORE_TIMEOUT = timedelta(minutes=10)  # how long processes wait for each other to join
PROBE_TIMEOUT = timedelta(seconds=2)  # to tell a live store from one announced before a restart


class Distributed:
    """The process group when started by torchrun (or ``WORLD_SIZE`` > 1); a no-op otherwise."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        # set by torchrun: one id per job (the same after restarts) and the restarts so far
        self.job = os.environ.get("TORCHELASTIC_RUN_ID")
        self.restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))

    @property
    def enabled(self) -> bool:
        """Several processes, or torchrun's one: a single process under torchrun trains in a
        process group of one (NCCL on a GPU), as the same command with more processes would."""
        return self.world > 1 or self.job is not None

    @property
    def backend(self) -> str | None:
        """The process group's backend (nccl, gloo) once started, else None."""
        return str(dist.get_backend()) if self.enabled and dist.is_initialized() else None

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world)

    def start(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            backend = "nccl" if device.type == "cuda" else "gloo"
            if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
                store = self.group_store()
                dist.init_process_group(backend, store=store, rank=self.rank, world_size=self.world)
            else:
                dist.init_process_group(backend)
            if device.type == "cpu":  # share the cores between the local processes
                torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.local_world))
            # torchrun counts restarts per node (a node that restarts only because another
            # one failed counts none): the group has restarted if any process says so
            restarts = torch.tensor([self.restart], device=device)
            dist.all_reduce(restarts, op=dist.ReduceOp.MAX)
            self.restart = int(restarts.item())

    def group_store(self) -> dist.Store:
        """A key-value store for this process group alone. torchrun's own store outlives a
        restart and still holds the failed group's addresses, which a new group would read
        (pytorch/pytorch#135712); so rank 0 serves a new store and announces it there with a
        token, and the others use the first announced store that answers with its token."""
        host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
        agent = dist.TCPStore(host, port, is_master=False, timeout=STORE_TIMEOUT)
        if self.main:
            token = uuid.uuid4().hex
            store = dist.TCPStore(host, 0, is_master=True, timeout=STORE_TIMEOUT)
            store.set("zoo/token", token)
            agent.set("zoo/store", f"{store.port} {token}")
            return store
        deadline = time.monotonic() + STORE_TIMEOUT.total_seconds()
        while time.monotonic() < deadline:
            served, token = agent.get("zoo/store").decode().split()
            with contextlib.suppress(RuntimeError):  # announced by a process that is gone
                store = dist.TCPStore(host, int(served), is_master=False, timeout=PROBE_TIMEOUT)
                if store.get("zoo/token").decode() == token:
                    store.set_timeout(STORE_TIMEOUT)
                    return store
            time.sleep(0.1)
        raise ZooError(f"rank 0 did not start the process group in {STORE_TIMEOUT}")

    def reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks."""
        if self.enabled:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether any rank says yes."""
        return bool(self.reduce(torch.tensor([float(flag)], device=device)).item() > 0)

    def share(self, make: Callable[[], Path]) -> Path:
        """Rank 0's ``make()`` on every rank, or its error on every rank (so that no rank waits
        for an answer that never comes)."""
        if not self.enabled:
            return make()
        answer: list[Any] = [None]
        if self.main:
            try:
                answer = [("path", str(make()))]
            except ZooError as exc:
                answer = [("error", str(exc))]
        dist.broadcast_object_list(answer, src=0)
        kind, text = answer[0]
        if kind == "error":
            raise ZooError(text)
        return Path(text)

    def stop(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
