"""The machine a figure was measured on: the CPU model and the instruction-set features that
change precision and speed (AVX2, AVX-512, VNNI for int8, BF16 and AMX for bfloat16), read once,
through one function. Runtimes pick reduced precision and fast int8 paths from these features, so
every bench result, certificate and benchmark names them. No torch here.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the /proc/cpuinfo flags (x86 and aarch64) that numbers depend on, and what they are called here
FEATURES = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX512-VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX512-BF16",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
    "bf16": "BF16",  # aarch64
    "i8mm": "I8MM",  # aarch64 int8 matrix multiply
}
NATIVE_BF16 = ("avx512_bf16", "amx_bf16", "bf16")
FAST_INT8 = ("avx512_vnni", "avx_vnni", "amx_int8", "i8mm")


@dataclass(frozen=True)
class Machine:
    """A CPU as figures depend on it."""

    cpu: str
    cores: int
    features: tuple[str, ...]  # keys of FEATURES present on this CPU

    @property
    def native_bf16(self) -> bool:
        """bfloat16 arithmetic in hardware: OpenVINO and oneDNN then compute in bf16 by default."""
        return any(flag in self.features for flag in NATIVE_BF16)

    @property
    def fast_int8(self) -> bool:
        """int8 dot-product instructions (VNNI, AMX): quantised files are fast only with them."""
        return any(flag in self.features for flag in FAST_INT8)

    def text(self) -> str:
        """``AMD EPYC, 2 cores; AVX2, AVX-512, AVX512-VNNI, AVX512-BF16``."""
        shown = ", ".join(FEATURES[f] for f in self.features) or "none of " + ", ".join(
            sorted(set(FEATURES.values()))
        )
        return f"{self.cpu}, {self.cores} cores; {shown}"

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu,
            "cores": self.cores,
            "features": [FEATURES[f] for f in self.features],
            "native_bf16": self.native_bf16,
            "fast_int8": self.fast_int8,
        }


def read_cpuinfo(text: str) -> tuple[str, set[str]]:
    """The model name and the flags of the first processor in a /proc/cpuinfo text."""
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, flags


@functools.cache
def this_machine() -> Machine:
    """This machine's CPU (Linux reads /proc/cpuinfo; elsewhere only the model is known)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model, flags = "", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model, flags = read_cpuinfo(cpuinfo.read_text(errors="replace"))
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    present = tuple(flag for flag in FEATURES if flag in flags)
    return Machine(model, cores or 1, present)


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: the one place training's ``--precision
    auto`` and bench's bf16 rows ask."""
    return this_machine().native_bf16


def zoo_version() -> str:
    """The installed zoo's version (``zoo.__version__``), for cache keys and provenance; read
    here, at the bottom, so that modules below the public API can name it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch-zoo")
    except PackageNotFoundError:
        return "0+unknown"


NATIVE_CUDA_BF16 = (8, 0)  # Ampere: bfloat16 tensor cores


def native_cuda_bf16(capability: tuple[int, int]) -> bool:
    """Whether a GPU of this compute capability computes bfloat16 natively (8.0, Ampere, and
    later). ``torch.cuda.is_bf16_supported()`` also says yes for older GPUs that only emulate it,
    slowly: training's ``--precision auto`` and bench's bf16 rows ask here instead."""
    return tuple(capability) >= NATIVE_CUDA_BF16
