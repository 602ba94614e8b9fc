"""zoo: a PyTorch model zoo whose models, datasets and optimizers are entry-point plugins.

The Python API mirrors timm and torchvision::

    import zoo
    zoo.list_models("cifar10-*")
    model = zoo.create_model("cifar10-cnn", num_classes=10)
    trained = zoo.create_model("cifar10-cnn", weights="default")  # its trained weights
    optimizer = zoo.create_optimizer("adam", model.parameters(), lr=1e-3)

Importing zoo does not import torch; building things does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.errors import (
        ArgumentError,
        NameConflictError,
        PluginError,
        UnknownNameError,
        ZooError,
    )
    from zoo.factory import create_dataset, create_model, create_optimizer, data_dir
    from zoo.meta import DatasetInfo, ModelInfo, Recipe, Weights, dataset_info, model_info
    from zoo.registry import (
        get_dataset_info,
        get_model_info,
        get_registry,
        list_datasets,
        list_models,
        list_optimizers,
        register_dataset,
        register_model,
        register_optimizer,
        reload_registry,
    )

# Where each public name lives: imported on first use, so that ``import zoo`` (and a cached
# ``zoo predict``, which needs only part of it) does not pay for the rest.
_HOMES = {
    "zoo.errors": [
        "ArgumentError", "NameConflictError", "PluginError", "UnknownNameError", "ZooError"
    ],
    "zoo.factory": ["create_dataset", "create_model", "create_optimizer", "data_dir"],
    "zoo.meta": ["DatasetInfo", "ModelInfo", "Recipe", "Weights", "dataset_info", "model_info"],
    "zoo.registry": [
        "get_dataset_info", "get_model_info", "get_registry", "list_datasets", "list_models",
        "list_optimizers", "register_dataset", "register_model", "register_optimizer",
        "reload_registry",
    ],
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ArgumentError",
    "DatasetInfo",
    "ModelInfo",
    "NameConflictError",
    "PluginError",
    "Recipe",
    "UnknownNameError",
    "Weights",
    "ZooError",
    "__version__",
    "create_dataset",
    "create_model",
    "create_optimizer",
    "data_dir",
    "dataset_info",
    "get_dataset_info",
    "get_model_info",
    "get_registry",
    "list_datasets",
    "list_models",
    "list_optimizers",
    "model_info",
    "register_dataset",
    "register_model",
    "register_optimizer",
    "reload_registry",
]


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from zoo.machine import zoo_version

        return zoo_version()
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
