"""Which device a command runs on, and in which precision."""

from __future__ import annotations

import contextlib

import torch

from zoo.errors import ZooError
from zoo.machine import native_bf16, native_cuda_bf16


def pick_device(request: str, local_rank: int) -> torch.device:
    """``auto``: CUDA, else MPS, else CPU; a requested device must be available."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if request == "auto":
        request = "cuda" if cuda else "mps" if mps else "cpu"
    if request.startswith("cuda") and not cuda:
        raise ZooError(f"--device {request}: no CUDA GPU is available (try --device cpu)")
    if request == "mps" and not mps:
        raise ZooError("--device mps: Apple's MPS backend is not available (try --device cpu)")
    if request == "cuda":
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(request)


def effective_precision(requested: str, device: torch.device) -> str:
    """What ``--precision`` means here: ``auto`` is bf16 where the hardware computes it
    natively (a CPU with AVX512_BF16 or AMX, a GPU of compute capability 8.0 or later), else
    fp32."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if native_cuda_bf16(torch.cuda.get_device_capability(device)) else "fp32"
    return "bf16" if device.type == "cpu" and native_bf16() else "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bfloat16 autocast for an effective precision of bf16 (weights stay float32)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
