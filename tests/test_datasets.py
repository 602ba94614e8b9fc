"""The built-in datasets, each loaded from a tiny fake copy in its real on-disk format (the way
torchvision's own tests fake them), or from the data that ships inside installed packages."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from zoo.datasets import flowers, folder, synthetic, vision
from zoo.errors import ZooError
from zoo.factory import create_dataset
from zoo.registry import get_dataset_info
from zoo.testing import check_dataset

CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def exists_only(path, md5=None):
    """torchvision's integrity check without the md5 of the real files (ours are fakes)."""
    return os.path.isfile(path)


def assert_tensors_match_items(dataset, count=3):
    """``as_tensors`` holds exactly what ``__getitem__`` gives (PIL images as uint8 C×H×W)."""
    images, labels = dataset.as_tensors()
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert len(images) == len(labels) == len(dataset)
    for index in np.linspace(0, len(dataset) - 1, count).astype(int):
        image, label = dataset[int(index)]
        assert isinstance(image, Image.Image) and isinstance(label, int)
        array = torch.from_numpy(np.asarray(image).copy())
        array = array[None] if array.ndim == 2 else array.permute(2, 0, 1)
        assert torch.equal(array, images[index]) and label == labels[index]


# --- torchvision's datasets, from fake files -------------------------------------------------


def write_cifar(root: Path, per_batch: int = 4) -> np.random.Generator:
    folder_ = root / "cifar-10-batches-py"
    folder_.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
        (folder_ / name).write_bytes(pickle.dumps(batch))
    (folder_ / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_CLASSES}))
    return rng


def write_idx(folder_: Path, split: str, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    (folder_ / f"{split}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x0803, count, 28, 28) + images.tobytes()
    )
    (folder_ / f"{split}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x0801, count) + labels.tobytes()
    )


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists_only)
    write_cifar(tmp_path)
    return tmp_path


def test_cifar10_reads_the_python_batches(cifar_root):
    train = vision.cifar10(cifar_root, train=True)
    test = vision.cifar10(cifar_root, train=False)
    assert isinstance(train, torchvision.datasets.CIFAR10)
    assert (len(train), len(test)) == (20, 4)
    assert train.classes == CIFAR_CLASSES == list(get_dataset_info("cifar10").classes)
    images, _ = train.as_tensors()
    assert images.shape == (20, 3, 32, 32)
    assert_tensors_match_items(train)
    assert check_dataset("cifar10", root=cifar_root).passed


@pytest.mark.parametrize(
    ("name", "folder_name"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")]
)
def test_mnist_and_fashion_read_the_raw_idx_files(tmp_path, name, folder_name):
    raw = tmp_path / folder_name / "raw"
    raw.mkdir(parents=True)
    write_idx(raw, "train", 12, seed=1)
    write_idx(raw, "t10k", 5, seed=2)
    train = create_dataset(name, root=tmp_path, train=True)
    test = create_dataset(name, root=tmp_path, train=False)
    assert (len(train), len(test)) == (12, 5)
    assert tuple(train.classes) == get_dataset_info(name).classes and len(train.classes) == 10
    images, labels = train.as_tensors()
    assert images.shape == (12, 1, 28, 28) and labels.shape == (12,)
    assert_tensors_match_items(train)
    transformed, _ = create_dataset(
        name, root=tmp_path, transform=torchvision.transforms.ToTensor()
    )[0]
    assert transformed.shape == (1, 28, 28) and transformed.dtype == torch.float32


def test_flowers102_splits_and_resizes_to_224(tmp_path, monkeypatch):
    from scipy.io import savemat

    monkeypatch.setattr(torchvision.datasets.flowers102, "check_integrity", exists_only)
    base = tmp_path / "flowers-102"
    (base / "jpg").mkdir(parents=True)
    for image_id in range(1, 7):
        Image.new("RGB", (40 + 10 * image_id, 30), (image_id * 30, 0, 0)).save(
            base / "jpg" / f"image_{image_id:05d}.jpg"
        )
    savemat(base / "imagelabels.mat", {"labels": np.array([1, 2, 3, 1, 2, 102])})
    savemat(
        base / "setid.mat",
        {"trnid": np.array([1, 2]), "valid": np.array([3]), "tstid": np.array([4, 5, 6])},
    )
    train = flowers.flowers102(tmp_path, train=True)
    test = flowers.flowers102(tmp_path, train=False)
    assert (len(train), len(test)) == (2, 3)
    assert train.targets == [0, 1] and test.targets == [0, 1, 101]
    image, label = test[2]
    assert image.size == (224, 224) and image.mode == "RGB" and label == 101
    assert get_dataset_info("flowers102").input_shape == (3, 224, 224)
    assert len(train.classes) == 102 and not hasattr(train, "as_tensors")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cifar10", "cifar-10-batches-py/ (from cifar-10-python.tar.gz"),
        ("mnist", "MNIST/raw/"),
        ("fashion-mnist", "FashionMNIST/raw/"),
        ("flowers102", "flowers-102/"),
    ],
)
def test_missing_files_say_where_to_put_them(tmp_path, name, expected):
    with pytest.raises(ZooError) as error:
        create_dataset(name, root=tmp_path / "data")
    message = str(error.value)
    assert f"{tmp_path / 'data'}/{expected}" in message and "--download" in message
    assert "\n" not in message


def test_the_metadata_is_torchvisions_without_importing_it():
    datasets = torchvision.datasets
    assert tuple(datasets.MNIST.classes) == vision.MNIST_CLASSES
    assert tuple(datasets.FashionMNIST.classes) == vision.FASHION_CLASSES
    assert get_dataset_info("cifar10").classes == tuple(CIFAR_CLASSES)
    assert tuple(datasets.folder.IMG_EXTENSIONS) == folder.IMAGE_EXTENSIONS
    layouts = {
        vision.CIFAR10_LAYOUT: (datasets.CIFAR10.base_folder, datasets.CIFAR10.url),
        vision.MNIST_LAYOUT: ("MNIST/raw", datasets.MNIST.mirrors[0]),
        vision.FASHION_LAYOUT: ("FashionMNIST/raw", datasets.FashionMNIST.mirrors[0]),
    }
    for layout, (folder_name, source) in layouts.items():
        assert layout.folder == folder_name and source in layout.source
    # the registry reads these entries (zoo info, zoo list) without torchvision's seconds
    code = (
        "import sys, zoo; zoo.get_dataset_info('mnist'); zoo.get_dataset_info('imagefolder');"
        "print('torchvision' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.stdout.strip() == "False", shown.stderr


def test_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ZooError, match="downloading cifar10 failed") as error:
        create_dataset("cifar10", root=tmp_path, download=True)
    assert f"{tmp_path}/cifar-10-batches-py/" in str(error.value)


# --- imagefolder ----------------------------------------------------------------------------


def write_folder(root: Path, counts: dict[str, int], size=(12, 10), mode="RGB", seed=0) -> None:
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels).save(
                root / name / f"{index:04d}.png"
            )


def test_imagefolder_makes_a_seeded_stratified_split(tmp_path):
    write_folder(tmp_path, {"cats": 10, "dogs": 5, "ants": 20})
    train = folder.imagefolder(tmp_path, train=True)
    test = folder.imagefolder(tmp_path, train=False)
    assert train.classes == ["ants", "cats", "dogs"] and train.input_shape == (3, 10, 12)
    assert np.bincount(test.targets).tolist() == [4, 2, 1] and len(train) == 28
    train_files = {path for path, _ in train.samples}
    assert not train_files & {path for path, _ in test.samples}
    assert train.samples == folder.imagefolder(tmp_path, train=True).samples
    other = folder.imagefolder(tmp_path, train=False, seed=1, test_fraction=0.5)
    assert len(other) == 17 and other.samples != test.samples
    assert_tensors_match_items(train)


def test_imagefolder_uses_train_and_test_folders(tmp_path):
    write_folder(tmp_path / "train", {"b": 3, "a": 2}, mode="L", size=(8, 8))
    write_folder(tmp_path / "test", {"b": 1}, mode="L", size=(8, 8))
    train = create_dataset("imagefolder", root=tmp_path, train=True)
    test = create_dataset("imagefolder", root=tmp_path, train=False)
    assert (len(train), len(test)) == (5, 1)
    assert test.classes == ["a", "b"] and test.targets == [1] and train.input_shape == (1, 8, 8)
    images, _ = test.as_tensors()
    assert images.shape == (1, 1, 8, 8)
    assert_tensors_match_items(train)


def test_imagefolder_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    write_folder(tmp_path, {"x": 4, "y": 4})
    images, labels = folder.imagefolder(tmp_path).as_tensors()
    cached = list((tmp_path / ".zoo-cache").glob("*.safetensors"))
    assert [p.name.split("-")[0] for p in cached] == ["train"]

    def no_decoding(self):
        raise AssertionError("decoded again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr(folder.ImageFolderDataset, "decode_all", no_decoding)
        again, again_labels = folder.imagefolder(tmp_path).as_tensors()
    assert torch.equal(again, images) and torch.equal(again_labels, labels)

    changed, _ = folder.imagefolder(tmp_path).samples[0]
    Image.new("RGB", (12, 10), (255, 0, 0)).save(changed)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    fresh, _ = folder.imagefolder(tmp_path).as_tensors()
    assert (fresh[0, 0] == 255).all() and not torch.equal(fresh, images)
    remaining = list((tmp_path / ".zoo-cache").glob("*.safetensors"))
    assert len(remaining) == 1 and remaining != cached


def test_imagefolder_sizes_must_match_unless_resized(tmp_path):
    write_folder(tmp_path, {"a": 5}, size=(12, 10))
    write_folder(tmp_path, {"b": 5}, size=(20, 16), seed=1)
    dataset = folder.imagefolder(tmp_path, train=True)
    with pytest.raises(ZooError, match="image_size=H,W"):
        dataset.as_tensors()
    resized = create_dataset("imagefolder", root=tmp_path, image_size="6,7")
    assert resized.input_shape == (3, 6, 7) and resized[len(resized) - 1][0].size == (7, 6)
    assert resized.as_tensors()[0].shape == (8, 3, 6, 7)


def test_imagefolder_missing_or_empty_is_a_clear_error(tmp_path):
    with pytest.raises(ZooError, match=str(tmp_path / "nowhere")):
        create_dataset("imagefolder", root=tmp_path / "nowhere")
    (tmp_path / "empty" / "class").mkdir(parents=True)
    with pytest.raises(ZooError, match="no images found"):
        folder.imagefolder(tmp_path / "empty")


# --- bundled and generated data ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "sizes", "shape"),
    [("digits", (1438, 359), (1, 8, 8)), ("mnist-5k", (4000, 1000), (1, 28, 28))],
)
def test_bundled_digits_load_with_declared_statistics(name, sizes, shape):
    info = get_dataset_info(name)
    train = create_dataset(name, train=True)
    test = create_dataset(name, train=False)
    assert (len(train), len(test)) == sizes and info.input_shape == shape
    assert tuple(train.classes) == info.classes and len(info.classes) == 10
    images, labels = train.as_tensors()
    assert images.shape == (sizes[0], *shape) and labels.bincount().min() > 0.9 * sizes[0] / 10
    pixels = images.float() / 255
    assert pixels.mean().item() == pytest.approx(info.mean[0], abs=1e-3)
    assert pixels.std().item() == pytest.approx(info.std[0], abs=1e-3)
    assert torch.equal(create_dataset(name, train=True).as_tensors()[0], images)  # deterministic
    assert_tensors_match_items(test)


def test_synthetic_is_shaped_by_its_arguments_and_learnable():
    train = synthetic.synthetic(
        "unused", train=True, num_classes=4, image_shape=(1, 6, 6), size=200
    )
    test = create_dataset(
        "synthetic", train=False, num_classes="4", image_shape="1,6,6", size="200"
    )
    assert (len(train), len(test)) == (200, 50) and train.classes == [
        f"class {i}" for i in range(4)
    ]
    assert train.input_shape == (1, 6, 6) and train.as_tensors()[0].shape == (200, 1, 6, 6)
    assert_tensors_match_items(train)
    images, labels = train.as_tensors()
    pixels = images.float() / 255
    mean, std = pixels.mean(), pixels.std()  # what zoo computes for a dataset without statistics
    model = torch.nn.Linear(36, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        logits = model(((pixels - mean) / std).flatten(1))
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()
    test_images, test_labels = test.as_tensors()
    predicted = model(((test_images.float() / 255 - mean) / std).flatten(1)).argmax(1)
    assert (predicted == test_labels).float().mean() > 0.9
    odd = synthetic.synthetic("unused", image_shape=(5, 4), size=8)
    assert odd[0][0].shape == (5, 4) and odd[0][0].dtype == torch.float32


def test_crop_yields_fit_recovers_the_true_relation():
    info = get_dataset_info("crop-yields")
    assert (
        info.task == "regression" and info.targets == ("apples", "oranges") and info.classes == ()
    )
    train = create_dataset("crop-yields", train=True)
    assert len(train) == 1000 and len(create_dataset("crop-yields", train=False)) == 200
    features, targets = train[0]
    assert features.shape == (3,) and targets.shape == (2,) and features.dtype == torch.float32
    x, y = train.as_tensors()
    assert x.shape == (1000, 3) and y.shape == (1000, 2) and y.dtype == torch.float32
    assert train.classes == [] and train.target_names == ["apples", "oranges"]
    design = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()
    solution = torch.linalg.lstsq(design, y.double()).solution.T
    assert torch.allclose(
        solution[:, :3], torch.tensor(synthetic.TRUE_WEIGHT, dtype=torch.double), atol=0.02
    )
    assert torch.allclose(
        solution[:, 3], torch.tensor(synthetic.TRUE_BIAS, dtype=torch.double), atol=0.5
    )
