"""The built-in model catalogue: layer for layer as published, adapting to other inputs, and the
transfer model's frozen backbone and offline weights."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torchvision
from conftest import run_zoo
from safetensors.torch import save_file
from torch import nn

import zoo
from zoo.errors import ArgumentError, ZooError

CIFAR10, MNIST, CROP_YIELDS, FLOWERS = (
    ((3, 32, 32), 10),
    ((1, 28, 28), 10),
    ((3,), 2),
    ((3, 224, 224), 102),
)
NO_DOWNLOAD = {"pretrained": "false"}

# name: (input shape and outputs of its default dataset, model arguments, parameter count)
BUILT_IN = {
    # conv 3*64*25+64 = 4,864; bn 2*64 = 128; conv 64*32*25+32 = 51,232; bn 2*32 = 64;
    # linear 800*64+64 = 51,264; 64*32+32 = 2,080; 32*10+10 = 330 -> 109,962
    "cifar10-cnn": (CIFAR10, {}, 109_962),
    # conv 3*16*9+16 = 448; 16*32*9+32 = 4,640; 32*64*9+64 = 18,496;
    # linear 1024*64+64 = 65,600; 64*10+10 = 650 -> 89,834
    "cifar10-tinycnn": (CIFAR10, {}, 89_834),
    # conv 896 + 18,496 + 73,856 + 147,584 + 295,168 + 590,080 = 1,126,080;
    # linear 4096*1024+1024 = 4,195,328; 1024*512+512 = 524,800; 512*10+10 = 5,130 -> 5,851,338
    "cifar10-vgg": (CIFAR10, {}, 5_851_338),
    # 784*10+10 = 7,850
    "mnist-logreg": (MNIST, {}, 7_850),
    # 784*32+32 = 25,120; 32*10+10 = 330 -> 25,450
    "mnist-mlp": (MNIST, {}, 25_450),
    # 784*128+128 = 100,480; 128*64+64 = 8,256; 64*10+10 = 650 -> 109,386
    "mnist-mlp3": (MNIST, {}, 109_386),
    # conv 1*6*25+6 = 156; 6*12*25+12 = 1,812; linear 192*120+120 = 23,160; 120*60+60 = 7,260;
    # 60*10+10 = 610 -> 32,998
    "fashion-cnn": (MNIST, {}, 32_998),
    # 3*2+2 = 8
    "linear-regression": (CROP_YIELDS, {}, 8),
    # whitening 24*3*2*2+24 = 312; groups (conv, norm bias+weight, conv, norm) 64: 13,824+128+
    # 36,864+128 = 50,944; 256: 147,456+512+589,824+512 = 738,304; 256: 1,180,672; head 2,560
    "cifar10-fast": (CIFAR10, {}, 1_972_792),
    # the same at 128/384/384: 312 + 175,616 + 1,771,008 + 2,655,744 + 3,840
    "cifar10-fast-wide": (CIFAR10, {}, 4_606_520),
    # torchvision resnet18 11,689,512 less its fc 512*1000+1000 = 513,000; head 512*102+102 = 52,326
    "flowers-transfer": (FLOWERS, NO_DOWNLOAD, 11_689_512 - 513_000 + 52_326),
}


def conv(cin: int, cout: int, k: int, pad: int = 0) -> tuple:
    return ("Conv2d", cin, cout, (k, k), (pad, pad))


def linear(fin: int, fout: int) -> tuple:
    return ("Linear", fin, fout)


RELU, POOL, FLAT = ("ReLU",), ("MaxPool2d", 2), ("Flatten",)

LAYERS = {
    "cifar10-cnn": [
        conv(3, 64, 5), ("BatchNorm2d", 64), RELU, POOL,
        conv(64, 32, 5), ("BatchNorm2d", 32), RELU, POOL,
        FLAT, linear(800, 64), RELU, ("Dropout", 0.2),
        linear(64, 32), RELU, ("Dropout", 0.2), linear(32, 10),
    ],
    "cifar10-tinycnn": [
        conv(3, 16, 3, 1), RELU, POOL,
        conv(16, 32, 3, 1), RELU, POOL,
        conv(32, 64, 3, 1), RELU, POOL,
        FLAT, linear(1024, 64), RELU, linear(64, 10),
    ],
    "cifar10-vgg": [
        conv(3, 32, 3, 1), RELU, conv(32, 64, 3, 1), RELU, POOL,
        conv(64, 128, 3, 1), RELU, conv(128, 128, 3, 1), RELU, POOL,
        conv(128, 256, 3, 1), RELU, conv(256, 256, 3, 1), RELU, POOL,
        FLAT, linear(4096, 1024), RELU, linear(1024, 512), RELU, linear(512, 10),
    ],
    "mnist-logreg": [FLAT, linear(784, 10)],
    "mnist-mlp": [FLAT, linear(784, 32), RELU, linear(32, 10)],
    "mnist-mlp3": [
        FLAT, linear(784, 128), RELU, linear(128, 64), RELU, linear(64, 10), ("LogSoftmax", 1),
    ],
    "fashion-cnn": [
        conv(1, 6, 5), RELU, POOL, conv(6, 12, 5), RELU, POOL,
        FLAT, linear(192, 120), RELU, linear(120, 60), RELU, linear(60, 10),
    ],
    "linear-regression": [linear(3, 2)],
    "cifar10-fast": [  # airbench94's: its final MaxPool2d(3) is functional, not a layer
        ("Whitening", 3, 24, (2, 2), (0, 0)), ("GELU",),
        ("Conv", 24, 64, (3, 3), "same"), POOL, ("BatchNorm", 64),
        ("Conv", 64, 64, (3, 3), "same"), ("BatchNorm", 64), ("GELU",),
        ("Conv", 64, 256, (3, 3), "same"), POOL, ("BatchNorm", 256),
        ("Conv", 256, 256, (3, 3), "same"), ("BatchNorm", 256), ("GELU",),
        ("Conv", 256, 256, (3, 3), "same"), POOL, ("BatchNorm", 256),
        ("Conv", 256, 256, (3, 3), "same"), ("BatchNorm", 256), ("GELU",),
        linear(256, 10),
    ],
}  # fmt: skip


def layers(model: nn.Module) -> list[tuple]:
    """The model's leaf layers, in order, with the attributes that define their shapes."""
    described = []
    for layer in (m for m in model.modules() if not list(m.children())):
        name = type(layer).__name__
        if isinstance(layer, nn.Conv2d):
            described.append(
                (name, layer.in_channels, layer.out_channels, layer.kernel_size, layer.padding)
            )
        elif isinstance(layer, nn.Linear):
            described.append((name, layer.in_features, layer.out_features))
        elif isinstance(layer, nn.BatchNorm2d):
            described.append((name, layer.num_features))
        elif isinstance(layer, nn.MaxPool2d):
            described.append((name, layer.kernel_size))
        elif isinstance(layer, nn.Dropout):
            described.append((name, layer.p))
        elif isinstance(layer, nn.LogSoftmax):
            described.append((name, layer.dim))
        else:
            described.append((name,))
    return described


def build(name: str, shape: tuple[int, ...], classes: int = 10, **args: str) -> nn.Module:
    return zoo.create_model(name, num_classes=classes, input_shape=shape, **args)


def test_every_entry_point_is_covered() -> None:
    builtin = [e.name for e in zoo.get_registry().entries("model") if e.builtin]
    assert sorted(builtin) == sorted(BUILT_IN)


@pytest.mark.parametrize("name", BUILT_IN)
def test_builds_trains_and_counts_parameters(name: str) -> None:
    (shape, classes), args, parameter_count = BUILT_IN[name]
    model = build(name, shape, classes, **args).train()
    output = model(torch.rand(2, *shape))
    assert output.shape == (2, classes)
    output.square().mean().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
    assert sum(p.numel() for p in model.parameters()) == parameter_count


@pytest.mark.parametrize("name", LAYERS)
def test_layer_structure_is_as_published(name: str) -> None:
    (shape, classes), args, _ = BUILT_IN[name]
    assert layers(build(name, shape, classes, **args)) == LAYERS[name]


def test_metadata_names_default_datasets_and_recipes() -> None:
    defaults = {name: zoo.get_model_info(name).default_dataset for name in BUILT_IN}
    assert defaults == {
        "cifar10-cnn": "cifar10", "cifar10-tinycnn": "cifar10", "cifar10-vgg": "cifar10",
        "mnist-logreg": "mnist", "mnist-mlp": "mnist", "mnist-mlp3": "mnist",
        "fashion-cnn": "fashion-mnist", "linear-regression": "crop-yields",
        "flowers-transfer": "flowers102", "cifar10-fast": "cifar10", "cifar10-fast-wide": "cifar10",
    }  # fmt: skip
    cnn = zoo.get_model_info("cifar10-cnn")
    assert (cnn.recipe.batch_size, cnn.recipe.epochs, cnn.recipe.mean) == (25, 20, [0.5] * 3)
    assert "73.58" in cnn.reference["cifar10"]
    assert round(60_000 * zoo.get_model_info("mnist-logreg").recipe.val_split) == 10_000
    mlp3 = zoo.get_model_info("mnist-mlp3").recipe  # the tutorial's plain SGD, as published
    assert (mlp3.optimizer, mlp3.lr, mlp3.opt_args, mlp3.mean) == ("sgd", 0.003, {}, [0.5])
    assert zoo.get_model_info("linear-regression").output == "regression"
    fast = zoo.get_model_info("cifar10-fast").recipe  # airbench94's hyp, per mean loss
    kilostep = 1024 * (1 + 1 / (1 - 0.85))
    assert fast.lr == pytest.approx(11.5 / kilostep * 1024)
    assert fast.lr * fast.opt_args["weight_decay"] == pytest.approx(0.0153 * 1024 / kilostep)
    assert (fast.batch_size, fast.epochs, fast.label_smoothing) == (1024, 10, 0.2)


def test_fast_model_pools_as_airbench94_does() -> None:
    """airbench94 ends with MaxPool2d(3) on 4×4 maps: the top-left 3×3, not all 16 positions."""
    model = build("cifar10-fast", CIFAR10[0]).eval()
    features = {}
    model.groups.register_forward_hook(lambda _m, _i, out: features.setdefault("maps", out))
    with torch.no_grad():
        output = model(torch.randn(2, *CIFAR10[0]))
    pooled = features["maps"][:, :, :3, :3].amax(dim=(2, 3))
    assert torch.allclose(output, model.head(pooled) / 9, atol=1e-6)


def test_cnn_adapts_to_grey_28x28_images() -> None:
    model = build("cifar10-cnn", (1, 28, 28))
    found = layers(model)
    # 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4: 32*4*4 = 512 features
    assert found[0] == conv(1, 64, 5) and found[9] == linear(512, 64)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_mlp_flattens_colour_images() -> None:
    model = build("mnist-mlp", (3, 32, 32), hidden="16")
    assert layers(model)[1:] == [linear(3 * 32 * 32, 16), RELU, linear(16, 10)]
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "shape", "smallest"),
    [
        ("cifar10-vgg", (1, 7, 7), "8×8"),
        ("cifar10-cnn", (1, 8, 8), "16×16"),
        ("fashion-cnn", (1, 15, 15), "16×16"),
    ],
)
def test_too_small_input_is_refused_with_the_minimum(
    name: str, shape: tuple[int, ...], smallest: str
) -> None:
    with pytest.raises(ArgumentError, match=rf"too small.*at least {smallest}"):
        build(name, shape)


def test_vgg_takes_its_smallest_input() -> None:
    # Three 2×2 max-pools shrink 8×8 to 1×1: 256 features, so 8×8 digits fit (7×7 do not).
    model = build("cifar10-vgg", (1, 8, 8))
    assert layers(model)[15:17] == [FLAT, linear(256, 1024)]
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)


def test_regression_refuses_images() -> None:
    with pytest.raises(ArgumentError, match=r"rows of features.*1×28×28"):
        build("linear-regression", (1, 28, 28), 2)


def test_mlp3_outputs_log_probabilities() -> None:
    model = build("mnist-mlp3", (1, 28, 28)).eval()
    probabilities = model(torch.rand(5, 1, 28, 28)).exp()
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))
    assert zoo.get_model_info("mnist-mlp3").output == "log_probs"


def test_transfer_trains_only_its_head() -> None:
    model = build("flowers-transfer", (3, 64, 64), 5, **NO_DOWNLOAD).train()
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = model.classifier.weight.clone()
    optimizer = zoo.create_optimizer(
        "adam", (p for p in model.parameters() if p.requires_grad), lr=0.1
    )
    loss = nn.functional.cross_entropy(model(torch.rand(4, 3, 64, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert not torch.equal(model.classifier.weight, head_before)
    for key, value in model.backbone.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(value, backbone_before[key]), key


@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "efficientnet_b0"])
def test_transfer_backbones(backbone: str) -> None:
    model = build("flowers-transfer", (3, 64, 64), 7, backbone=backbone, **NO_DOWNLOAD)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 7
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 7)


def test_transfer_refuses_grey_images_and_unknown_backbones() -> None:
    with pytest.raises(ArgumentError, match="3-channel"):
        build("flowers-transfer", (1, 224, 224), **NO_DOWNLOAD)
    with pytest.raises(ArgumentError, match=r"unknown backbone 'vgg11'.*resnet50"):
        build("flowers-transfer", (3, 224, 224), backbone="vgg11", **NO_DOWNLOAD)


@pytest.fixture
def offline_hub(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """An empty torch hub cache and a proxy that refuses every connection: no network is used."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_pretrained_offline_says_what_to_do(offline_hub: pathlib.Path) -> None:
    with pytest.raises(ZooError) as raised:
        build("flowers-transfer", (3, 224, 224), 102)
    message = str(raised.value)
    assert "resnet18-f37072fd.pth" in message and str(offline_hub) in message
    assert "pretrained=false" in message and "backbone_weights=PATH" in message
    assert "\n" not in message


def test_pretrained_weights_come_from_the_hub_cache(offline_hub: pathlib.Path) -> None:
    state = torchvision.models.resnet18().state_dict()
    offline_hub.mkdir(parents=True)
    torch.save(state, offline_hub / "resnet18-f37072fd.pth")
    model = build("flowers-transfer", (3, 224, 224), 102)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_file(tmp_path: pathlib.Path, suffix: str) -> None:
    state = torchvision.models.resnet18().state_dict()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    model = build("flowers-transfer", (3, 224, 224), 102, backbone_weights=str(path))
    assert torch.equal(model.backbone.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert model.classifier.in_features == 512


def test_unfit_or_unsafe_weights_files_are_refused(tmp_path: pathlib.Path) -> None:
    wrong = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), wrong)
    with pytest.raises(ArgumentError, match="does not fit the resnet18 backbone"):
        build("flowers-transfer", (3, 224, 224), backbone_weights=str(wrong))
    pickled = tmp_path / "pickled.pth"
    torch.save({"path": pathlib.PurePosixPath("/etc")}, pickled)  # an arbitrary object: not loaded
    with pytest.raises(ArgumentError, match="cannot read weights file"):
        build("flowers-transfer", (3, 224, 224), backbone_weights=str(pickled))


def test_zoo_info_shows_description_and_parameter_count() -> None:
    result = run_zoo("info", "cifar10-cnn")
    assert result.returncode == 0, result.stderr
    assert "CIFAR-10 tutorial CNN: two 5×5 conv blocks with batch norm" in result.stdout
    assert "109,962" in result.stdout
