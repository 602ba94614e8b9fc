"""Which device a command runs on."""

from __future__ import annotations

import torch

from zoo.errors import ZooError


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
