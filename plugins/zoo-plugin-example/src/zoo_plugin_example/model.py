"""A small CNN that adapts to the dataset zoo gives it."""

from torch import nn


def shapes_cnn(
    num_classes: int = 3, input_shape: tuple[int, ...] = (1, 28, 28), width: int = 16
) -> nn.Module:
    """A two-block CNN for small images: (conv, ReLU, max-pool) twice, then a linear classifier."""
    channels, height, width_px = input_shape
    if height < 4 or width_px < 4:
        raise ValueError(f"shapes-cnn needs images of at least 4x4 pixels, not {height}x{width_px}")
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (height // 4) * (width_px // 4), num_classes),
    )


# Optional metadata as a plain dict: zoo reads it if present, the plugin does not need zoo.
shapes_cnn.zoo_info = {
    "description": "A two-block CNN for small grayscale images (example plugin).",
    "default_dataset": "shapes",
    "recipe": {"optimizer": "signsgd", "lr": 0.01, "batch_size": 32, "epochs": 3},
}
