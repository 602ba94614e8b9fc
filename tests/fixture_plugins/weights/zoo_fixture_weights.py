"""A logistic regression over 28×28 digits whose trained weights are downloaded from a URL.

The test that installs this plugin replaces @URL@, @SHA256@ and @ACCURACY@ with its local
server's address, the file's hash and its accuracy before building it.
"""

from collections import OrderedDict

from torch import nn

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def web_logreg(num_classes: int = 10, input_shape: tuple = (1, 28, 28)) -> nn.Module:
    """One linear layer over the flattened image."""
    features = 1
    for size in input_shape:
        features *= size
    return nn.Sequential(
        OrderedDict(flatten=nn.Flatten(), classifier=nn.Linear(features, num_classes))
    )


web_logreg.zoo_info = {
    "description": "Logistic regression over 28×28 digits, with downloadable weights.",
    "default_dataset": "mnist-5k",
    "weights": [
        {
            "name": "digits-v1",
            "url": "@URL@",
            "sha256": "@SHA256@",
            "dataset": "mnist-5k",
            "classes": [f"{digit} - {name}" for digit, name in enumerate(DIGITS)],
            "input_shape": [1, 28, 28],
            "metrics": {"accuracy": "@ACCURACY@"},
            "split": "test",
            "note": "The test's copy of zoo's mnist-logreg weights.",
        }
    ],
}
