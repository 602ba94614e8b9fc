"""The Python API: listing, in-process registration, building with checked arguments."""

from __future__ import annotations

import re
import warnings
from typing import Literal

import pytest
import torch
from torch import nn

import zoo
from zoo.errors import ArgumentError, NameConflictError, PluginError, UnknownNameError
from zoo.factory import bind, convert
from zoo.flags import parse_assignments
from zoo.registry import IN_PROCESS, Entry, Registry


@pytest.fixture(autouse=True)
def fresh_registry():
    zoo.reload_registry()
    yield
    zoo.reload_registry()


def test_builtin_optimizers_come_from_zoos_own_entry_points():
    assert {"sgd", "adam", "adamw"} <= set(zoo.list_optimizers())
    entry = zoo.get_registry().resolve("optimizer", "adam")
    assert entry.builtin and entry.dist == "torch-zoo" and entry.target == "torch.optim:Adam"


def test_register_model_in_process_and_build_with_context():
    @zoo.register_model("probe-net", description="A probe.", default_dataset="synthetic")
    def probe_net(
        num_classes: int, input_shape: tuple[int, ...], width: int = 4, bias: bool = True
    ) -> nn.Module:
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], width, bias=bias),
            nn.Linear(width, num_classes),
        )

    assert zoo.list_models("probe-*") == ["probe-net"]
    model = zoo.create_model(
        "probe-net", num_classes=3, input_shape=(1, 2, 2), width="7", bias="false"
    )
    assert model[1].out_features == 7 and model[1].bias is None and model[2].out_features == 3
    assert zoo.get_model_info("probe-net").description == "A probe."
    assert zoo.get_model_info("probe-net").default_dataset == "synthetic"
    assert zoo.get_registry().resolve("model", "probe-net").dist == IN_PROCESS


def test_model_context_only_passed_when_accepted():
    seen = {}

    @zoo.register_model("only-classes")
    def only_classes(num_classes: int = 10) -> nn.Module:
        """Takes only the class count."""
        seen["num_classes"] = num_classes
        return nn.Linear(2, num_classes)

    zoo.create_model("only-classes", num_classes=4, in_channels=1, input_shape=(1, 2, 2))
    assert seen == {"num_classes": 4}
    assert zoo.get_model_info("only-classes").description == "Takes only the class count."


def test_unknown_and_ill_typed_model_arguments_are_clear_errors():
    @zoo.register_model("typed-net")
    def typed_net(width: int = 8, dropout: float = 0.1) -> nn.Module:
        return nn.Linear(width, 2)

    with pytest.raises(ArgumentError, match=r"has no parameter 'depth'.*width, dropout"):
        zoo.create_model("typed-net", depth="3")
    with pytest.raises(ArgumentError, match="'width' must be an integer, not 'wide'"):
        zoo.create_model("typed-net", width="wide")
    with pytest.raises(
        ArgumentError, match="'num_classes' cannot be set by hand: set from the dataset"
    ):
        bind(typed_net, {}, parse_assignments(["num_classes=3"], "--model-arg"), "m", "model")


def test_model_that_returns_no_module_is_reported():
    @zoo.register_model("not-a-module")
    def not_a_module() -> int:
        return 3

    with pytest.raises(PluginError, match=r"returned int, not a torch\.nn\.Module"):
        zoo.create_model("not-a-module")


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownNameError, match="did you mean 'adam', 'adamw'") as info:
        zoo.create_optimizer("adm", [])
    assert "Traceback" not in str(info.value)
    with pytest.raises(UnknownNameError, match="'adam' is an optimizer"):
        zoo.create_model("adam")


def test_optimizer_arguments_checked():
    params = [nn.Parameter(torch.zeros(2))]
    optimizer = zoo.create_optimizer("sgd", params, lr=0.1, momentum="0.9")
    assert optimizer.defaults["momentum"] == 0.9 and optimizer.defaults["lr"] == 0.1
    with pytest.raises(ArgumentError, match="no parameter 'momentun'"):
        zoo.create_optimizer("sgd", params, lr=0.1, momentun="0.9")
    with pytest.raises(ArgumentError, match="learning rate must be > 0"):
        zoo.create_optimizer("adam", params, lr=0)


def test_conflicting_registrations_need_a_qualified_name():
    registry = Registry()
    for dist in ("first-dist", "second-dist"):
        registry.add(Entry("model", "same", f"{dist}:same", dist, "1.0", obj=lambda: nn.Identity()))
    with pytest.raises(NameConflictError, match="'first-dist:same' or 'second-dist:same'"):
        registry.resolve("model", "same")
    assert registry.resolve("model", "Second_Dist:same").dist == "second-dist"
    with pytest.raises(UnknownNameError, match="no model 'same' in distribution 'third'"):
        registry.resolve("model", "third:same")


def test_metadata_as_plain_dict_is_validated():
    def builder() -> nn.Module:
        return nn.Identity()

    builder.zoo_info = {"description": "ok", "recipe": {"lr": 0.5, "optimizer": "sgd"}}
    info = zoo.meta.read(builder, zoo.ModelInfo)
    assert info.recipe.lr == 0.5 and info.recipe.optimizer == "sgd" and info.recipe.epochs == 10
    builder.zoo_info = {"descripton": "typo"}
    with pytest.raises(TypeError, match="unknown ModelInfo field"):
        zoo.meta.read(builder, zoo.ModelInfo)


def test_a_recipe_is_a_partial_training_configuration_checked_by_its_fields() -> None:
    recipe = zoo.Recipe(optimizer="sgd", lr=0.1, label_smoothing=0.2, mean=(0.5,), note="ours")
    assert recipe.values == {"optimizer": "sgd", "lr": 0.1, "label_smoothing": 0.2, "mean": [0.5]}
    assert (recipe.epochs, recipe.tta, recipe.note) == (10, "none", "ours")  # TrainConfig's own
    older = zoo.Recipe(lr=0.1, options={"label_smoothing": 0.2})  # how recipes once said it
    assert older.values == {"lr": 0.1, "label_smoothing": 0.2}
    for wrong, message in (
        ({"lr": -1.0}, "--lr must be > 0"),
        ({"epochs": "ten"}, "'epochs' must be an integer"),
        ({"flip": "sideways"}, "--flip must be one of none, random, alternate"),
        ({"device": "cuda"}, "'device', which a recipe cannot"),
        ({"colour": "red"}, "'colour', which a recipe cannot"),
    ):
        with pytest.raises(TypeError, match=re.escape(message)):
            zoo.Recipe(**wrong)

    def builder() -> nn.Module:
        return nn.Identity()

    builder.zoo_info = {"recipe": {"epochs": 0}}
    with pytest.raises(TypeError, match=re.escape("--epochs must be at least 1")):
        zoo.meta.read(builder, zoo.ModelInfo)


@pytest.mark.parametrize(
    ("text", "hint", "default", "expected"),
    [
        ("3", int, None, 3),
        ("0.5", float, None, 0.5),
        ("yes", bool, None, True),
        ("3,32,32", tuple[int, ...], None, (3, 32, 32)),
        ("none", int | None, None, None),
        ("7", int | None, None, 7),
        ("resnet18", Literal["resnet18", "resnet50"], None, "resnet18"),
        ("12", "untyped", 4, 12),
        ("(1, 2)", "untyped", None, (1, 2)),
        ("path/to/file", str, None, "path/to/file"),
    ],
)
def test_convert_command_line_text(text, hint, default, expected):
    import inspect

    hint = inspect.Parameter.empty if hint == "untyped" else hint
    default = inspect.Parameter.empty if default is None else default
    assert convert(text, hint, default, "x") == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [("1.5", int), ("maybe", bool), ("vgg", Literal["resnet18"]), ("a,b", tuple[int, ...])],
)
def test_convert_rejects_ill_typed_text(text, hint):
    import inspect

    with pytest.raises(ArgumentError):
        convert(text, hint, inspect.Parameter.empty, "x")


def test_bind_accepts_extra_keywords_only_with_var_keyword():
    def open_ended(a: int = 1, **kwargs):
        return None

    assert bind(open_ended, {}, {"a": "2", "b": "3"}, "f", "model") == {"a": 2, "b": "3"}
    with pytest.raises(ArgumentError, match="form name=value"):
        parse_assignments(["width"], "--model-arg")


def test_registering_another_builder_under_a_taken_in_process_name_warns():
    def first(num_classes: int = 2) -> nn.Module:
        return nn.Linear(4, num_classes)

    def second(num_classes: int = 2) -> nn.Module:
        return nn.Linear(4, num_classes)

    zoo.register_model("twice-net")(first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zoo.register_model("twice-net")(first)  # re-running a notebook cell: silent
    with pytest.warns(UserWarning, match="replaces it"):
        zoo.register_model("twice-net")(second)
    assert zoo.get_registry().resolve("model", "twice-net").obj is second
