"""Train and serve see the same pixels: `zoo predict`'s input equals the training pipeline's for
images of other sizes and modes (RGBA, palette, grayscale, 16-bit PNG), and their top-1 agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_support import run_dir
from typer.testing import CliRunner

from zoo.artifacts.card import ModelCard, Preprocessing, prepare_image
from zoo.artifacts.checkpoint import load_checkpoint
from zoo.cli.app import app
from zoo.factory import create_dataset
from zoo.predict.onnx import Predictor
from zoo.sources import resolve
from zoo.train.data import AsTensor, BatchPipeline

pytestmark = pytest.mark.usefixtures("tiny_entries")


def image(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A random image of ``mode`` (width, height); 16-bit ones span the full 16-bit range."""
    rng = np.random.default_rng(seed)
    width, height = size
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
        return Image.merge("RGBA", (*rgb.split(), alpha))
    return rgb.convert(mode)


def folder(root: Path, modes: list[str], sizes: list[tuple[int, int]]) -> list[Path]:
    """An image folder with two classes, images of the given modes and sizes, as PNG files."""
    paths = []
    for index, (mode, size) in enumerate(zip(modes, sizes, strict=True)):
        path = root / ("a" if index % 2 else "b") / f"{index:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image(mode, size, index).save(path)
        paths.append(path)
    return paths


def test_sixteen_bit_images_are_scaled_not_clipped() -> None:
    pixels = np.array([[0, 255, 256, 32768, 65535]], dtype=np.uint16)
    converted = prepare_image(Image.fromarray(pixels), 1, (1, 5))
    assert np.asarray(converted).tolist() == [[0, 0, 1, 128, 255]]


def test_normalisation_is_one_affine_map_for_training_and_predict() -> None:
    preprocessing = Preprocessing((3, 4, 4), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    batch = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)
    served = preprocessing.normalise(batch)
    trained = BatchPipeline(preprocessing, torch.device("cpu"))(torch.from_numpy(batch)).numpy()
    expected = (batch / 255 - np.array([0.4, 0.5, 0.6])[:, None, None]) / np.array(
        [0.2, 0.25, 0.3]
    )[:, None, None]
    assert np.allclose(served, expected, atol=1e-5) and np.allclose(trained, served, atol=1e-6)


@pytest.mark.parametrize(
    ("modes", "channels"),
    [(["RGB", "RGBA", "P", "L", "I;16", "RGB"], 3), (["L", "I;16", "RGB", "LA", "I;16", "L"], 1)],
)
def test_predict_input_equals_the_training_pipelines(tmp_path: Path, modes, channels) -> None:
    sizes = [(12, 12), (20, 15), (9, 13), (12, 12), (30, 30), (7, 5)]
    paths = folder(tmp_path / "images", modes, sizes)
    data = create_dataset(
        "imagefolder", tmp_path / "images", train=True, test_fraction=0.5, image_size=12
    )
    assert data.input_shape == (channels, 12, 12)
    preprocessing = Preprocessing(data.input_shape, (0.5,) * channels, (0.25,) * channels)
    cached, _ = data.as_tensors()  # the fast path: decoded once, as training reads them
    for (path, _), decoded in zip(data.samples, cached, strict=True):
        with Image.open(path) as opened:
            served = preprocessing.image_to_array(opened)  # what `zoo predict` feeds
        assert np.array_equal(served, decoded.numpy()), path
        loader_item = AsTensor(data.input_shape)(data[data.samples.index((path, _))][0])
        assert np.array_equal(served, loader_item.numpy()), path  # the DataLoader path
    assert len(paths) == 6


def test_trained_and_exported_models_agree_on_top1_for_odd_images(tmp_path: Path) -> None:
    sizes = [(12, 12), (40, 28), (9, 13), (12, 12), (30, 30), (7, 5), (16, 12), (12, 20)]
    modes = ["RGB", "RGBA", "P", "L", "I;16", "RGB", "1", "LA"]
    paths = folder(tmp_path / "images", modes, sizes)
    runner = CliRunner()
    args = ["train", "tiny-net", "-d", "imagefolder", "--data-dir", str(tmp_path / "images")]
    args += ["--dataset-arg", "image_size=12", "--dataset-arg", "test_fraction=0.5"]
    args += ["--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "runs")]
    assert runner.invoke(app, args).exit_code == 0
    run = run_dir(tmp_path / "runs")
    exported = runner.invoke(
        app, ["export", str(run), "--onnx", "--out", str(tmp_path / "export"), "--json"]
    )
    assert exported.exit_code == 0, exported.output
    checkpoint = load_checkpoint(run)
    card: ModelCard = checkpoint.card
    model = resolve(str(checkpoint.path)).model()
    data = create_dataset(
        "imagefolder", tmp_path / "images", train=True, test_fraction=0.5, image_size=12
    )
    test = create_dataset(
        "imagefolder", tmp_path / "images", train=False, test_fraction=0.5, image_size=12
    )
    pipeline = BatchPipeline(card.preprocessing, torch.device("cpu"))
    predictor = Predictor(tmp_path / "export" / "tiny-net.onnx")
    for split in (data, test):
        images, _ = split.as_tensors()
        with torch.no_grad():
            trained_top1 = model(pipeline(images)).argmax(1).tolist()
        predictions = predictor.predict([str(path) for path, _ in split.samples], top_k=1)
        served_top1 = [card.classes.index(p.labels[0][0]) for p in predictions]
        assert served_top1 == trained_top1
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["card"]["resize"] == "bilinear" and len(paths) == 8
