"""Linear regression on a table of features (the crop-yields tutorial)."""

from __future__ import annotations

from torch import nn

from zoo.meta import Recipe, model_info, weights_index
from zoo.models.parts import format_shape


@model_info(
    description="Linear regression: predicts crop yields (apples, oranges) from temperature, "
    "rainfall and humidity with one linear layer and MSE loss.",
    default_dataset="crop-yields",
    recipe=Recipe(optimizer="sgd", lr=1e-5, batch_size=11, epochs=100),
    output="regression",
    weights=weights_index(__package__, "linear-regression"),
)
def linear_regression(num_classes: int = 2, input_shape: tuple[int, ...] = (3,)) -> nn.Linear:
    """One linear layer from a row of features to ``num_classes`` regression targets."""
    if len(input_shape) != 1:
        raise ValueError(
            f"takes rows of features, input shape (features,), not {format_shape(input_shape)} "
            "images: use a table dataset such as crop-yields"
        )
    return nn.Linear(input_shape[0], num_classes)
