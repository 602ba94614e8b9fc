"""Models written for MNIST and Fashion-MNIST (1×28×28): a logistic regression, two MLPs and a
small CNN. The MLPs flatten whatever input they are given; the CNN adapts to other image shapes."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from zoo.meta import Recipe, model_info, weights_index
from zoo.models.parts import conv_classifier, flat_size, flattened_size, image_shape

MNIST_SHAPE = (1, 28, 28)
# The tutorials hold out 10,000 of MNIST's 60,000 training images; as a fraction it fits any dataset.
VALIDATION_SIXTH = 1 / 6


def _flatten_then(classifier: nn.Module) -> nn.Sequential:
    """Flatten the input (C·H·W values per image), then ``classifier``."""
    return nn.Sequential(OrderedDict(flatten=nn.Flatten(), classifier=classifier))


@model_info(
    description="Logistic regression on MNIST: one linear layer over the flattened image.",
    default_dataset="mnist",
    recipe=Recipe(
        optimizer="sgd",
        lr=1e-3,
        batch_size=128,
        epochs=10,
        val_split=VALIDATION_SIXTH,
        mean=(0.0,),  # the tutorial feeds ToTensor() pixels in [0, 1], unnormalised
        std=(1.0,),
    ),
    reference={"mnist": "plateaus around 80–85 % validation accuracy (tutorial)"},
    weights=weights_index(__package__, "mnist-logreg"),
)
def mnist_logreg(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """Multinomial logistic regression: a single linear layer over the flattened image."""
    return _flatten_then(nn.Linear(flat_size(input_shape, in_channels, MNIST_SHAPE), num_classes))


@model_info(
    description="MNIST feed-forward network: one ReLU hidden layer (32 units by default).",
    default_dataset="mnist",
    recipe=Recipe(
        optimizer="sgd",
        lr=0.5,
        batch_size=128,
        epochs=10,
        val_split=VALIDATION_SIXTH,
        mean=(0.0,),  # the tutorial feeds ToTensor() pixels in [0, 1], unnormalised
        std=(1.0,),
    ),
    weights=weights_index(__package__, "mnist-mlp"),
)
def mnist_mlp(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    hidden: int = 32,
) -> nn.Sequential:
    """A multi-layer perceptron with one ReLU hidden layer of ``hidden`` units."""
    if hidden < 1:
        raise ValueError(f"hidden must be at least 1, not {hidden}")
    return _flatten_then(
        nn.Sequential(
            nn.Linear(flat_size(input_shape, in_channels, MNIST_SHAPE), hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
    )


@model_info(
    description="MNIST MLP with 128 and 64 ReLU hidden units and a log-softmax output "
    "(trained with NLL loss).",
    default_dataset="mnist",
    # Udacity's intro-to-pytorch, Part 3: Normalize((0.5,), (0.5,)), DataLoader(batch_size=64),
    # optim.SGD(model.parameters(), lr=0.003) (no momentum), 5 epochs, NLLLoss
    recipe=Recipe(optimizer="sgd", lr=0.003, batch_size=64, epochs=5, mean=(0.5,), std=(0.5,)),
    output="log_probs",
    weights=weights_index(__package__, "mnist-mlp3"),
)
def mnist_mlp3(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """A three-layer perceptron (128, 64 hidden units) that outputs log-probabilities."""
    return _flatten_then(
        nn.Sequential(
            nn.Linear(flat_size(input_shape, in_channels, MNIST_SHAPE), 128),
            nn.ReLU(),
            nn.Linear(128, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
            nn.LogSoftmax(dim=1),
        )
    )


@model_info(
    description="Fashion-MNIST CNN: two 5×5 conv / ReLU / max-pool stages (6, 12 channels) and a "
    "120-60 head.",
    default_dataset="fashion-mnist",
    recipe=Recipe(optimizer="adam", lr=0.01, batch_size=100, epochs=10),
    no_weights="Fashion-MNIST is not available where zoo's weights are trained (no download)",
)
def fashion_cnn(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """Two 5×5 conv / ReLU / max-pool stages (6, 12 channels) and a 120-60 MLP head."""
    shape = image_shape(input_shape, in_channels, MNIST_SHAPE)
    features = nn.Sequential(
        nn.Conv2d(shape[0], 6, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 12, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )
    classifier = nn.Sequential(
        nn.Linear(flattened_size(features, shape), 120),
        nn.ReLU(),
        nn.Linear(120, 60),
        nn.ReLU(),
        nn.Linear(60, num_classes),
    )
    return conv_classifier(features, classifier)
