"""airbench94 (K. Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", arXiv 2404.00498;
github.com/KellerJordan/cifar10-airbench, ``legacy/airbench94.py``): a small VGG-like network
whose first layer is a frozen 2×2 patch-whitening convolution set from the training data, with
BatchNorm without affine weights and GELU, trained with Nesterov SGD, label smoothing, a per-step
warm-up/warm-down schedule, lookahead, translation and alternating flips, and evaluated with
flip + translate test-time augmentation.

The network is the paper's; the recipe is its ``hyp`` dictionary rewritten for zoo's trainer
(loss averaged over the batch, not summed: the learning rate times 1,024 and the weight decay
divided by 1,024, the same steps), with its last smaller batch of each epoch dropped and its
whitening bias trained in the first 3 epochs only. Deviations: 10 epochs of 48 steps (480) where
airbench94 trains 9.9 (476 steps; zoo's epochs are whole); the whitening statistics come from
5,000 training images drawn at random with the seed (airbench takes the first 5,000 of its file,
which an image folder would give in class order); bf16 autocast with float32 weights on a CPU
with native bf16 (airbench: float16 weights on a GPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.meta import Recipe, model_info, weights_index
from zoo.models.parts import image_shape

CIFAR10_SHAPE = (3, 32, 32)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
WHITEN_KERNEL = 2
WHITEN_EPS = 5e-4
BATCH = 1024
MOMENTUM = 0.85
# airbench's hyper-parameters are per 1,024 examples of a summed loss, with decoupled momentum:
# airbench94's lr 11.5 and weight decay 0.0153 "per 1024 examples" over 1024·(1 + 1/(1 − momentum))
# give SGD's lr 11.5 / 7850.67 on a summed loss, 1.5 on zoo's mean; its weight decay (per lr)
# on the summed loss is 0.0013305 on the mean (the same decay per step, lr × weight decay)
KILOSTEP = BATCH * (1 + 1 / (1 - MOMENTUM))
DECAY_PER_STEP = 0.0153 * BATCH / KILOSTEP


def sgd_lr(per_1024: float) -> float:
    """SGD's learning rate on a mean loss for airbench's rate "per 1024 examples"."""
    return per_1024 / KILOSTEP * BATCH


def airbench_recipe(per_1024: float, epochs: int, note: str) -> Recipe:
    """airbench's recipe (its ``hyp``) at a learning rate and a length: all else is shared."""
    lr = sgd_lr(per_1024)
    return Recipe(
        optimizer="sgd",
        lr=lr,
        batch_size=BATCH,
        epochs=epochs,
        opt_args={"momentum": MOMENTUM, "nesterov": True, "weight_decay": DECAY_PER_STEP / lr},
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        label_smoothing=0.2,
        scheduler="linear",
        warmup=0.23,
        lr_start=0.2,
        lr_end=0.07,
        param_groups={
            "*norm*.bias": {"lr_scale": 64.0, "decay_scale": 1 / 64},
            "whiten.bias": {"epochs": 3},
        },
        ema=0.95**5,
        ema_every=5,
        lookahead=True,
        flip="alternate",
        translate=2,
        padding="reflect",
        drop_last=True,
        precision="auto",
        tta="flip-translate",
        note=note,
    )


COMMON_DEVIATIONS = (
    "whitening statistics from 5,000 training images drawn with the seed (airbench: the first "
    "5,000); on CPU bf16 autocast with float32 weights (airbench: float16 weights on a GPU)."
)


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm with its scale frozen at 1 (only the bias trains), momentum 0.6 in airbench's
    convention (PyTorch's 0.4), eps 1e-12."""

    def __init__(self, features: int) -> None:
        super().__init__(features, eps=1e-12, momentum=0.4)
        self.weight.requires_grad_(False)


class Conv(nn.Conv2d):
    """A 3×3 'same' convolution without bias, initialised as an identity on its first channels
    (``dirac_``) on top of PyTorch's default."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__(channels_in, channels_out, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        weight = self.weight.data
        torch.nn.init.dirac_(weight[: weight.size(1)])


class ConvGroup(nn.Module):
    """conv, 2×2 max-pool, norm, GELU, conv, norm, GELU."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = Conv(channels_in, channels_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(channels_out)
        self.conv2 = Conv(channels_out, channels_out)
        self.norm2 = BatchNorm(channels_out)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        return self.activation(self.norm2(self.conv2(x)))


class Whitening(nn.Conv2d):
    """A frozen 2×2 convolution that whitens image patches: its filters are the eigenvectors of
    the training patches' covariance, scaled by 1/√(eigenvalue + eps), with their negatives."""

    def __init__(self, channels: int) -> None:
        width = 2 * channels * WHITEN_KERNEL**2
        super().__init__(channels, width, kernel_size=WHITEN_KERNEL, padding=0, bias=True)
        self.weight.requires_grad_(False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> None:
        """The filters from ``images`` (normalised N×C×H×W)."""
        channels = images.shape[1]
        patches = images.float().unfold(2, WHITEN_KERNEL, 1).unfold(3, WHITEN_KERNEL, 1)
        patches = patches.transpose(1, 3).reshape(-1, channels * WHITEN_KERNEL**2)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance, UPLO="U")
        eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)
        filters = eigenvectors.reshape(-1, channels, WHITEN_KERNEL, WHITEN_KERNEL)  # as (C, kh, kw)
        scaled = filters / torch.sqrt(eigenvalues + WHITEN_EPS).view(-1, 1, 1, 1)
        self.weight.copy_(torch.cat((scaled, -scaled)).to(self.weight.dtype))


class AirbenchNet(nn.Module):
    """airbench94's network: whitening, GELU, three conv groups, 3×3 max-pool, a linear layer
    without bias, outputs scaled by 1/9."""

    def __init__(self, num_classes: int, channels: int, widths: tuple[int, int, int]) -> None:
        super().__init__()
        self.whiten = Whitening(channels)
        self.activation = nn.GELU()
        width = self.whiten.out_channels
        groups = []
        for out in widths:
            groups.append(ConvGroup(width, out))
            width = out
        self.groups = nn.Sequential(*groups)
        self.head = nn.Linear(width, num_classes, bias=False)
        self.scale = 1 / 9

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.activation(self.whiten(x)))
        # airbench's MaxPool2d(3): on CIFAR's 4×4 maps, the top-left 3×3 only; the max over
        # what is left makes the head take other image sizes too
        x = F.max_pool2d(x, 3).amax(dim=(2, 3))
        return self.head(x) * self.scale

    def zoo_data_init(self, inputs: torch.Tensor) -> None:
        """zoo's data-dependent initialisation hook: the whitening filters from training images."""
        self.whiten.fit(inputs)


@model_info(
    description="airbench94's CIFAR-10 network (Jordan 2024): a frozen 2×2 patch-whitening conv "
    "set from the training data, three conv groups (64, 256, 256) with BatchNorm and GELU, "
    "trained in 10 epochs with Nesterov SGD, label smoothing, lookahead, translation and "
    "alternating flips; evaluated with flip + translate test-time augmentation.",
    default_dataset="cifar10",
    recipe=airbench_recipe(
        11.5,
        10,
        "airbench94's hyp (legacy/airbench94.py), for a loss averaged over the batch (lr x "
        "1,024, weight decay / 1,024: the same steps). Deviations: 10 epochs of 48 steps "
        "(airbench94: 9.9 epochs, 476 steps); " + COMMON_DEVIATIONS,
    ),
    reference={
        "cifar10": "94.01 % mean test accuracy with TTA, 3.83 s on one A100 (airbench94, "
        "arXiv 2404.00498; the original CIFAR-10 files)"
    },
    weights=weights_index(__package__, "cifar10-fast"),
)
def cifar10_fast(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    widths: tuple[int, int, int] = (64, 256, 256),
) -> AirbenchNet:
    """airbench94's network, for any image size (the last pool is adaptive) and widths."""
    shape = image_shape(input_shape, in_channels, CIFAR10_SHAPE)
    if len(widths) != 3 or min(widths) < 1:
        raise ValueError(f"widths are three channel counts, not {widths}")
    return AirbenchNet(num_classes, shape[0], tuple(widths))


# sized by its FLOPs (2.55× cifar10-fast's per image, benchmarks/fast_cifar.py): 9 epochs took
# 25.8 min of training, 28.7 min in all, where cifar10-fast's 10 take 11 (2-core AVX-512 BF16
# CPU, bf16; benchmarks/RESULTS.md)
WIDE_EPOCHS = 9


@model_info(
    description="airbench95's wider CIFAR-10 network (Jordan 2024): airbench94's design with "
    "conv groups of 128, 384 and 384 channels and its lower learning rate, trained for "
    f"{WIDE_EPOCHS} epochs (airbench95: 15), sized to fit 30 minutes on two CPU cores with native "
    "bf16; evaluated with flip + translate test-time augmentation.",
    default_dataset="cifar10",
    recipe=airbench_recipe(
        10.0,
        WIDE_EPOCHS,
        "airbench95's hyp (legacy/airbench95.py: lr 10.0 per 1024 examples, widths 128/384/384), "
        "for a loss averaged over the batch. Deviations: "
        f"{WIDE_EPOCHS} epochs of 48 steps where airbench95 trains 15, sized from its FLOP count to "
        "fit 30 minutes on two CPU cores with native bf16 (one seed: 91.24 % with TTA on the JPEG "
        "copy in 28.7 min, benchmarks/RESULTS.md); " + COMMON_DEVIATIONS,
    ),
    reference={
        "cifar10": "95.01 % mean test accuracy with TTA over 200 runs, 10.4 s on one A100 "
        "(airbench95, legacy/airbench95.py, 15 epochs; the original CIFAR-10 files)"
    },
    weights=weights_index(__package__, "cifar10-fast-wide"),
)
def cifar10_fast_wide(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    widths: tuple[int, int, int] = (128, 384, 384),
) -> AirbenchNet:
    """airbench95's network: :func:`cifar10_fast` with wider conv groups."""
    return cifar10_fast(num_classes, in_channels, input_shape, widths)
