"""`zoo predict`: ONNX Runtime only (torch never imported), inputs prepared as the file says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from export_support import BUILTIN_MODELS, exported, quick_export, with_card
from PIL import Image

import zoo
from zoo.errors import ZooError
from zoo.predict.onnx import Predictor
from zoo.sources import SourceRequest

PREDICT_WITHOUT_TORCH = """
import json, sys
from zoo.cli.app import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps({"torch_imported": "torch" in sys.modules}), file=sys.stderr)
"""


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def predict_in_fresh_process(*args: str) -> tuple[list[dict], bool]:
    """`zoo predict ... --json` through the CLI app in a new interpreter; and was torch imported?"""
    result = subprocess.run(
        [sys.executable, "-c", PREDICT_WITHOUT_TORCH, "predict", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), json.loads(result.stderr.strip().splitlines()[-1])[
        "torch_imported"
    ]


def image_models() -> list[str]:
    return [name for name in BUILTIN_MODELS if name != "linear-regression"]


def test_predict_command_never_imports_torch(tmp_path_factory, tmp_path):
    export = exported(image_models()[0], tmp_path_factory)
    images = [
        write_image(tmp_path / "a.png", (40, 30), seed=1),
        write_image(tmp_path / "b.jpg", (20, 20), "L", seed=2),
    ]
    rows, torch_imported = predict_in_fresh_process(
        str(export.file("onnx")), *map(str, images), "--top-k", "3"
    )
    assert not torch_imported
    assert [row["input"] for row in rows] == list(map(str, images)) and all(
        len(row["outputs"]) == 3 for row in rows
    )
    expected = Predictor(export.file("onnx")).predict(list(map(str, images)), top_k=3)
    assert [[o["label"] for o in row["outputs"]] for row in rows] == [
        [k for k, _ in p.labels] for p in expected
    ]


@pytest.mark.parametrize("name", image_models())
def test_predict_matches_eager_on_converted_resized_images(name, tmp_path_factory, tmp_path):
    export = exported(name, tmp_path_factory)
    shape = export.source.input_shape
    images = [
        write_image(tmp_path / "a.png", (40, 30), seed=1),
        write_image(tmp_path / "b.jpg", (shape[2], shape[1]), "L", seed=2),
    ]
    predictions = Predictor(export.file("onnx")).predict(list(map(str, images)), top_k=3)
    card = export.source.card
    preprocessing = card.preprocessing
    batch = np.stack([preprocessing.image_to_array(Image.open(path)) for path in images])
    assert batch.shape[1:] == shape
    with torch.no_grad():
        logits = export.source.model()(torch.from_numpy(preprocessing.normalise(batch)))
    probabilities = logits.exp() if card.output == "log_probs" else logits.softmax(1)
    for prediction, expected in zip(predictions, probabilities, strict=True):
        best = expected.argsort(descending=True)[:3]
        assert [label for label, _ in prediction.labels] == [card.classes[i] for i in best]
        assert np.allclose(
            [value for _, value in prediction.labels], expected[best].numpy(), atol=1e-5
        )


def test_probabilities_sum_to_one(tmp_path_factory, tmp_path):
    export = exported(image_models()[0], tmp_path_factory)
    image = write_image(tmp_path / "x.png", (32, 32))
    classes = len(export.manifest.card.classes)
    prediction = Predictor(export.file("onnx")).predict([str(image)], top_k=classes)[0]
    assert (
        len(prediction.labels) == classes and abs(sum(p for _, p in prediction.labels) - 1) < 1e-5
    )


@pytest.mark.skipif(
    "linear-regression" not in BUILTIN_MODELS, reason="built-in regression model not present"
)
def test_regression_prints_raw_outputs(tmp_path_factory):
    export = exported("linear-regression", tmp_path_factory)
    card = export.source.card
    features = np.asarray([[1.5, -2.0, 0.25]], np.float32)
    prediction = Predictor(export.file("onnx")).predict(["1.5,-2,0.25"])[0]
    with torch.no_grad():
        expected = export.source.model()(torch.from_numpy(card.preprocessing.normalise(features)))[
            0
        ]
    assert [label for label, _ in prediction.labels] == list(card.classes)
    assert np.allclose([value for _, value in prediction.labels], expected.numpy(), atol=1e-5)


def test_fixed_batch_file_pads_and_predict_command_prints_labels(tmp_path):
    @zoo.register_model("predict-net")
    def predict_net(num_classes: int = 3) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, num_classes))

    source = SourceRequest(spec="predict-net", input_shape=(3, 6, 6), num_classes=3).resolve()
    source = with_card(source, classes=("red", "green", "blue"))
    quick_export(source, tmp_path, 4, formats=("onnx",), batch=2)
    images = [str(write_image(tmp_path / f"{i}.png", (6, 6), seed=i)) for i in range(3)]
    predictions = Predictor(tmp_path / "predict-net.onnx").predict(images, top_k=1)
    assert len(predictions) == 3 and all(
        p.labels[0][0] in ("red", "green", "blue") for p in predictions
    )
    zoo.reload_registry()


def test_bad_inputs_are_clear_errors(tmp_path_factory, tmp_path):
    export = exported(image_models()[0], tmp_path_factory)
    predictor = Predictor(export.file("onnx"))
    with pytest.raises(ZooError, match="no image file"):
        predictor.predict([str(tmp_path / "missing.png")])
    (tmp_path / "junk.png").write_text("not an image")
    with pytest.raises(ZooError, match="cannot read image"):
        predictor.predict([str(tmp_path / "junk.png")])
    with pytest.raises(ZooError, match="no ONNX file"):
        Predictor(tmp_path / "missing.onnx")
