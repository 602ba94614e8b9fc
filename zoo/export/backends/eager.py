"""PyTorch eager: the reference every other backend is compared with (float32, TF32 and oneDNN
bf16 shortcuts off), the same model under bfloat16 autocast where the hardware has bf16, and under
float16 autocast on CUDA (where float16 overflow would show)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from zoo.export.backends.base import Backend, CallMaker, Opened, Opening
from zoo.machine import native_bf16, native_cuda_bf16


def torch_call(module: Callable[[Any], Any], device: str, autocast: Any) -> CallMaker:
    """Timed calls of a torch module: a ready tensor on the CPU; host in, host out on CUDA."""
    import torch

    from zoo.export import runtimes

    def make(data: Any) -> Callable[[], Any]:
        tensor = torch.from_numpy(data)
        if device == "cpu":

            def on_cpu() -> Any:
                with runtimes.autocast_to(device, autocast):
                    return module(tensor)

            return on_cpu

        def host_to_host() -> Any:
            with runtimes.autocast_to(device, autocast):
                result = module(tensor.to(device)).cpu()
            torch.cuda.synchronize()
            return result

        return host_to_host

    return make


def open_module(module: Any, opening: Opening, autocast: Any = None) -> Opened:
    """Any torch callable as a backend on the opening's device."""
    from zoo.export import runtimes

    return Opened(
        runtimes.torch_runner(module, opening.device, autocast),
        torch_call(module, opening.device, autocast),
    )


def on_device(opening: Opening) -> Any:
    model = opening.model
    return model if opening.device == "cpu" else copy.deepcopy(model).to(opening.device)


def open_eager(opening: Opening) -> Opened:
    return open_module(on_device(opening), opening)


def open_eager_bf16(opening: Opening) -> Opened:
    import torch

    opened = open_module(on_device(opening), opening, torch.bfloat16)
    opened.settings = lambda: {"torch autocast": "bfloat16"}
    return opened


def open_eager_fp16(opening: Opening) -> Opened:
    import torch

    opened = open_module(on_device(opening), opening, torch.float16)
    opened.settings = lambda: {"torch autocast": "float16"}
    return opened


def missing_bf16(device: str) -> str | None:
    import torch

    if device == "cpu" and not native_bf16():
        return "this CPU has no native bfloat16 (AVX512_BF16, AMX or Arm BF16)"
    if device.startswith("cuda") and torch.cuda.is_available():
        gpu = torch.device(device)
        if not native_cuda_bf16(torch.cuda.get_device_capability(gpu)):
            name = torch.cuda.get_device_name(gpu)
            return f"{name} has no native bfloat16 (compute capability below 8.0)"
    return None


EAGER = Backend("eager", None, "fp32", ("cpu", "cuda"), open_eager)
EAGER_BF16 = Backend("eager-bf16", None, "bf16", ("cpu", "cuda"), open_eager_bf16, missing_bf16)
EAGER_FP16 = Backend("eager-fp16", None, "fp16", ("cuda",), open_eager_fp16)
