"""zoo's CUDA code paths, where a CPU can show them: the float32 pins (TF32 off for cuDNN
convolutions too), ONNX Runtime's CUDA provider options, an ExportedProgram moved whole to another
device, float16 autocast rows, and torchrun's single process in a process group (NCCL on a GPU)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn
from train_support import TINY_DATA, ok

from zoo.artifacts.manifest import FileFacts
from zoo.export import runtimes
from zoo.export.backends import BACKENDS, Opening
from zoo.export.parity import compare
from zoo.export.precisions import FP16
from zoo.train.distributed import Distributed
from zoo.tta import with_tta


def test_float32_pins_turn_tf32_off_for_cudnn_convolutions_and_put_everything_back() -> None:
    """torch's cuDNN convolutions default to TF32; setting the cuDNN-wide switch alone leaves
    them so on torch 2.11 (and makes the old switch unreadable on newer torch): every switch is
    pinned, read back, and restored as it was."""
    backends = torch.backends
    torch.set_float32_matmul_precision("high")  # not the default: restored as found
    try:
        before = runtimes.float32_settings()
        assert before["cuDNN convolutions"] == "tf32"  # torch's default
        with runtimes.float32_torch(1) as settings:
            assert backends.cudnn.conv.fp32_precision == "ieee"
            assert backends.cudnn.rnn.fp32_precision == "ieee"
            assert backends.cuda.matmul.fp32_precision == "ieee"
            assert backends.mkldnn.conv.fp32_precision == "ieee"
            assert backends.cudnn.allow_tf32 is False  # the old switch agrees, and is readable
            assert backends.cuda.matmul.allow_tf32 is False
            assert settings == runtimes.float32_settings()
            assert settings["cuDNN convolutions"] == "ieee"
            assert settings["cuDNN allow_tf32"] == "False"
            assert settings["torch float32 matmul precision"] == "highest"
            with backends.cudnn.flags(enabled=True):  # reads and writes the old switch
                pass
            assert backends.cudnn.allow_tf32 is False
            assert runtimes.float32_settings()["cuDNN convolutions"] in ("ieee", "none")
            assert backends.cudnn.fp32_precision == "ieee"  # what "none" defers to
        assert runtimes.float32_settings() == before
        assert backends.cudnn.allow_tf32 is True
    finally:
        torch.set_float32_matmul_precision("highest")


def test_onnxruntime_cuda_provider_gets_its_gpu_and_tf32_off() -> None:
    assert runtimes.ort_providers("cpu") == ["CPUExecutionProvider"]
    assert runtimes.ort_providers("cuda") == [
        ("CUDAExecutionProvider", {"device_id": 0, "use_tf32": 0})
    ]
    assert runtimes.ort_providers("cuda:1")[0][1]["device_id"] == 1


class TinyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).relu().mean(dim=(2, 3)))


def test_exported_program_moves_to_another_device_with_its_constants(tmp_path: Path) -> None:
    """A TTA graph holds its views' weights as a lifted constant, which ``module().to(device)``
    leaves on the CPU ("Tensor on device cpu is not on the expected device"); torch's
    move_to_device_pass takes it along. The meta device stands in for CUDA."""
    torch.manual_seed(0)
    model = with_tta(TinyConv().eval(), "flip-translate")
    x = torch.randn(2, 3, 8, 8)
    path = tmp_path / "tta.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    assert torch.export.load(str(path)).constants  # the case that needs the pass
    module = runtimes.load_exported_program(path, "meta")
    assert {t.device.type for t in module.state_dict().values()} == {"meta"}
    assert module(x.to("meta")).shape == (2, 3)
    on_cpu = runtimes.load_exported_program(path)
    torch.testing.assert_close(on_cpu(x), model(x))


def test_float16_autocast_row_runs_within_its_tolerance() -> None:
    """eager-fp16 runs on CUDA only (bench offers it there); its runner, on the CPU here, stays
    within float16's tolerance of float32 eager."""
    backend = BACKENDS["eager-fp16"]
    assert (backend.precision, backend.devices) == ("fp16", ("cuda",))
    torch.manual_seed(0)
    model = TinyConv().eval()
    batch = np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32)
    opened = backend.open(Opening(model, None, FileFacts(), "cpu", 1))
    reference = runtimes.torch_runner(model)(batch)
    got = opened.parity(batch)
    assert opened.settings() == {"torch autocast": "float16"}
    assert not np.array_equal(got, reference)  # it did compute in float16
    assert compare("eager-fp16", reference, got, True, FP16).passed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def torchrun_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment torchrun gives its only process (``--nproc-per-node 1``)."""
    values = {"TORCHELASTIC_RUN_ID": "single", "WORLD_SIZE": "1", "RANK": "0"}
    values |= {"LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}
    values["MASTER_PORT"] = str(free_port())
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.mark.usefixtures("tiny_entries", "torchrun_single_process")
def test_torchrun_single_process_trains_in_a_process_group(tmp_path: Path) -> None:
    """Under torchrun, one process is a process group of one (gloo here, NCCL on a GPU: the
    only way to smoke-test NCCL on one GPU); without torchrun it is no process group at all."""
    assert Distributed().enabled
    output = ok(
        "train", "tiny-net", *TINY_DATA, "--epochs", "1", "--device", "cpu", "--out", tmp_path
    )
    assert "DistributedDataParallel over gloo, 1 process" in output
    assert not dist.is_initialized()  # stopped at the end of the run


def test_one_process_without_torchrun_is_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not Distributed().enabled


def test_bf16_counts_as_native_from_ampere_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.cuda.is_bf16_supported() says yes on a T4 or V100, which only emulate bfloat16:
    `--precision auto` and bench's bf16 row go by compute capability 8.0 instead."""
    from zoo.export.backends.eager import missing_bf16
    from zoo.machine import native_cuda_bf16
    from zoo.train.device import effective_precision

    assert not native_cuda_bf16((7, 5)) and native_cuda_bf16((8, 0)) and native_cuda_bf16((9, 0))
    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulation
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))
    assert effective_precision("auto", gpu) == "fp32"
    assert "Tesla T4 has no native bfloat16" in (missing_bf16("cuda:0") or "")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    assert effective_precision("auto", gpu) == "bf16"
    assert missing_bf16("cuda") is None
