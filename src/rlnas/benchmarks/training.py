"""`train:DATASET`: every query trains a child network on real data, as Zoph & Le's children were.

A query builds the cell's network (`rlnas.models`), trains it for a fixed number of epochs on the
training split and scores it by its accuracy on the validation split; the test split's accuracy is
reported beside it and never used to select. Results go to a SQLite database keyed by the
architecture, the data (by content) and the training settings, so that a killed search resumes
without retraining and two searches, or several workers, share what they trained. What is
trained and stored for an NB101 cell is one fixed form of its isomorphism class (the smallest
upper-triangular one), so that the stored result does not depend on which form a search met first.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation
from rlnas.cells import Cell
from rlnas.cells.cell import bits
from rlnas.data import cache_dir
from rlnas.datasets import ImageDataset, load_dataset
from rlnas.devices import check_device, resolve_device, torch_threads
from rlnas.errors import ConfigError, DataError, RlnasError, check_finite
from rlnas.spaces import NB101_SPACE, DAGSpace, SearchSpace

DEFAULT_DATABASE = "training.sqlite"
SCHEMA_VERSION = "1"
#: Seconds a query waits for another process's write to the database before giving up.
BUSY_TIMEOUT = 60.0
#: The networks halve the resolution twice.
MIN_IMAGE_SIDE = 4
EVAL_BATCH = 512
#: Training images whose batch statistics replace the running ones before scoring.
BN_CALIBRATION_IMAGES = 2048


class ResultStoreError(RlnasError):
    """A results database that cannot be opened, read or written."""


@dataclass(frozen=True)
class TrainingSettings:
    """How every child is built and trained. All fields but `device` are part of a stored result's key."""

    epochs: int = 2
    """Passes over the training images."""
    width: int = 16
    """Channels after the stem (the macro skeleton's width; NB101 published 128, NB201 16)."""
    depth: int = 1
    """Cells per stack (NB101 published 3) or stage (NB201 published 5)."""
    batch_size: int = 128
    """Images per SGD step."""
    learning_rate: float = 0.05
    """Initial SGD step size, annealed to zero over the run along a cosine."""
    momentum: float = 0.9
    """Nesterov momentum of SGD."""
    weight_decay: float = 5e-4
    """L2 penalty on every parameter."""
    seed: int = 0
    """Seeds the initial weights (a torch generator state) and the order of the training images."""
    split_seed: int = 0
    """Seeds the train/validation/test split of the dataset (see `rlnas.datasets`)."""
    train_images: int | None = 5000
    """Train on this many images of the training split (a fixed random subset); None: all of them."""
    eval_images: int | None = 2000
    """Score on this many images of the validation split, and report as many of the test split; None: all."""
    device: str = "auto"
    """'auto' (a GPU when torch sees one, else the CPU), 'cpu', 'cuda' or 'cuda:N'. Training is
    bit-for-bit repeatable for a seed on the CPU only."""

    def __post_init__(self) -> None:
        check_finite(self)
        if min(self.epochs, self.width, self.depth) < 1:
            raise ConfigError(
                f"epochs, width and depth must be at least 1, got {self.epochs}, {self.width}, {self.depth}"
            )
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be at least 2 (batch norm needs two images), got {self.batch_size}")
        if not self.learning_rate > 0 or not 0 <= self.momentum < 1 or not self.weight_decay >= 0:
            raise ConfigError(
                f"need learning_rate > 0, 0 <= momentum < 1, weight_decay >= 0; got {self.learning_rate}, "
                f"{self.momentum}, {self.weight_decay}"
            )
        if (self.train_images is not None and self.train_images < 2) or (
            self.eval_images is not None and self.eval_images < 1
        ):
            raise ConfigError("train_images must be at least 2 and eval_images at least 1 (or None: all images)")
        check_device(self.device, "device")

    def key(self) -> str:
        """The settings that determine a result, as canonical JSON (the database key)."""
        fields = dataclasses.asdict(self)
        del fields["device"]
        return json.dumps(fields, sort_keys=True)


# ---------------------------------------------------------------------------- the stored form of a cell


def stored_form(space: SearchSpace, cell: Cell) -> Cell:
    """The form of a pruned cell that is trained and stored: equal for all isomorphic forms.

    For a DAG space, the relabelling of the interior vertices that keeps every edge forward and has
    the smallest (ops, rows) — at most 5! = 120 orders in NB101. DARTS architectures take the space's
    canonical genotype; NB201 cells have one fixed layout.
    """
    if hasattr(space, "canonical"):  # DARTS: one genotype per isomorphism class
        return space.canonical(cell)
    if not isinstance(space, DAGSpace):
        return cell
    n = cell.num_vertices
    succs = [bits(row) for row in cell.rows]
    best: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    for interior in itertools.permutations(range(1, n - 1)):
        order = (0, *interior, n - 1)
        position = {v: i for i, v in enumerate(order)}
        if any(position[w] < position[v] for v in order for w in succs[v]):
            continue
        candidate = (
            tuple(cell.ops[v] for v in order),
            tuple(sum(1 << position[w] for w in succs[v]) for v in order),
        )
        if best is None or candidate < best:
            best = candidate
    assert best is not None  # the given order is always one of them
    return Cell(best[1], best[0])


# ---------------------------------------------------------------------------- the SQLite store


class ResultStore:
    """Trained children in one SQLite file (WAL mode, so that readers never wait for a writer).

    One connection per operation: a store can be pickled to other processes, and each operation is
    one short transaction. The first result written for a key wins; a later writer of the same key
    (two searches that trained the same child at once) gets the stored one back.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultStoreError(
                f"cannot create the folder of {self.path} ({exc.strerror}); choose another path"
            ) from exc
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the integrity check failed")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            db.execute(
                "CREATE TABLE IF NOT EXISTS children (space TEXT NOT NULL, arch TEXT NOT NULL, "
                "data TEXT NOT NULL, settings TEXT NOT NULL, data_name TEXT NOT NULL, metrics TEXT NOT NULL, "
                "device TEXT NOT NULL, finished REAL NOT NULL, PRIMARY KEY (space, arch, data, settings))"
            )
            (schema,) = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if schema != SCHEMA_VERSION:
            raise ResultStoreError(
                f"{self.path} has schema {schema}, this rlnas writes {SCHEMA_VERSION}; choose another database path"
            )

    def _connect(self) -> _Connection:
        return _Connection(self.path)

    def get(self, space: str, arch: str, data: str, settings: str) -> dict[str, float] | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT metrics FROM children WHERE space = ? AND arch = ? AND data = ? AND settings = ?",
                (space, arch, data, settings),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(
        self, space: str, arch: str, data: str, settings: str, data_name: str, metrics: dict[str, float], device: str
    ) -> dict[str, float]:
        """Store a result unless one is there already; return the stored one."""
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO children VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (space, arch, data, settings, data_name, json.dumps(metrics), device, time.time()),
            )
            (stored,) = db.execute(
                "SELECT metrics FROM children WHERE space = ? AND arch = ? AND data = ? AND settings = ?",
                (space, arch, data, settings),
            ).fetchone()
        return json.loads(stored)

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM children").fetchone()[0]


class _Connection:
    """A connection that commits on success, always closes, and turns SQLite's errors into one line."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise ResultStoreError(
                f"cannot open the results database {self.path} ({exc}); choose another path"
            ) from exc
        return self.db

    def __exit__(self, kind, error, traceback) -> None:
        with closing(self.db):
            if error is None:
                try:
                    self.db.commit()
                except sqlite3.Error as exc:
                    raise ResultStoreError(f"cannot write the results database {self.path} ({exc})") from exc
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            raise ResultStoreError(
                f"{self.path} stayed locked by another process for {BUSY_TIMEOUT:.0f} s; retry, or choose another path"
            ) from error
        if isinstance(error, sqlite3.Error):
            raise ResultStoreError(
                f"{self.path} is not a usable results database ({error}); move it away or choose another path"
            ) from error


# ---------------------------------------------------------------------------- training one child


def input_statistics(data: ImageDataset, settings: TrainingSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the training images a child sees (its input scaling)."""
    train = data.splits(settings.split_seed)[0][: settings.train_images]
    x_train = data.x[train].astype(np.float32)
    return x_train.mean(axis=(0, 2, 3), keepdims=True), x_train.std(axis=(0, 2, 3), keepdims=True) + 1e-6


def train_child(space: SearchSpace, cell: Cell, data: ImageDataset, settings: TrainingSettings):
    """Train the network of a pruned cell; return (model, metrics)."""
    from rlnas.models import Macro, build_model

    macro = Macro(settings.width, settings.depth, data.image_shape[0], data.num_classes)
    return train_network(lambda: build_model(space, cell, macro), data, settings)


def train_network(make_model, data: ImageDataset, settings: TrainingSettings):
    """Build a network with `make_model()` (its weights drawn from `settings.seed`) and train it as
    every child is trained; return (model, metrics). Any network can be trained this way, so a
    hand-written one is compared with the searched children on equal terms.

    Uses one torch thread (restored afterwards) and its own generator state (the global one is
    left as it was), so that children can run side by side in one process or one per core.
    """
    import torch
    import torch.nn.functional as F

    from rlnas.models import count_parameters

    start, start_cpu = time.perf_counter(), time.thread_time()
    device = torch.device(resolve_device(settings.device))
    train, validation, test = data.splits(settings.split_seed)
    train, validation, test = (
        train[: settings.train_images],
        validation[: settings.eval_images],
        test[: settings.eval_images],
    )
    mean, std = input_statistics(data, settings)

    def tensors(indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = (data.x[indices].astype(np.float32) - mean) / std
        return torch.from_numpy(x).to(device), torch.from_numpy(data.y[indices]).to(device)

    with torch_threads(1):  # as every child: the wall times compare
        with torch.random.fork_rng(devices=[]):  # the weights are drawn on the CPU, on any device
            torch.default_generator.manual_seed(settings.seed)
            model = make_model()
        model.to(device)
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=settings.learning_rate,
            momentum=settings.momentum,
            nesterov=True,
            weight_decay=settings.weight_decay,
        )
        x, y = tensors(train)
        steps_per_epoch = math.ceil(len(train) / settings.batch_size)
        total_steps = settings.epochs * steps_per_epoch
        order = np.random.default_rng(settings.seed)
        model.train()
        step, loss_sum = 0, 0.0
        for _ in range(settings.epochs):
            permutation = torch.from_numpy(order.permutation(len(train))).to(device)
            loss_sum = 0.0
            for batch in permutation.split(settings.batch_size):
                for group in optimizer.param_groups:
                    group["lr"] = settings.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total_steps))
                step += 1
                if len(batch) < 2:  # batch norm cannot train on one image
                    continue
                loss = F.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(batch)
        _recalibrate_batch_norm(model, x[:BN_CALIBRATION_IMAGES], settings.batch_size)
        model.eval()
        metrics = {
            "validation_accuracy": _accuracy(model, *tensors(validation)),
            "test_accuracy": _accuracy(model, *tensors(test)),
            "train_loss": loss_sum / len(train),
            "parameters": float(count_parameters(model)),
        }
    metrics["training_time"] = time.perf_counter() - start
    metrics["cpu_time"] = time.thread_time() - start_cpu
    return model, metrics


def _recalibrate_batch_norm(model, x, batch_size: int) -> None:
    """Replace the running statistics of batch norm by the exact average over `x` under the final weights.

    After the few hundred steps of a short training, the running averages (momentum 0.1) still mix
    in the statistics of the early weights, and a child scored with them is scored at random.
    """
    import torch
    from torch import nn

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches that follow
    model.train()
    with torch.no_grad():
        for batch in x.split(batch_size):
            if len(batch) > 1:
                model(batch)
    for norm in norms:
        norm.momentum = 0.1


def _accuracy(model, x, y) -> float:
    import torch

    with torch.inference_mode():
        correct = sum(
            int((model(xb).argmax(1) == yb).sum())
            for xb, yb in zip(x.split(EVAL_BATCH), y.split(EVAL_BATCH), strict=True)
        )
    return correct / len(y)


# ---------------------------------------------------------------------------- the benchmark


class TrainingBenchmark(Benchmark):
    """`train:DATASET`: validation accuracy after `settings.epochs` epochs of training (the score);
    test accuracy, parameters, the last epoch's training loss, the query's wall-clock seconds
    (`training_time`, its cost) and the CPU seconds of the training thread (`cpu_time`) beside it.

    `rng` of a look-up is not used: the training seed is a setting, so that a result is a function of
    its key and can be stored.
    """

    metric = "validation_accuracy"
    cost_metric = "training_time"
    best_possible = None

    def __init__(
        self,
        dataset: str,
        space: SearchSpace = NB101_SPACE,
        settings: TrainingSettings = TrainingSettings(),
        database: str | Path | None = None,
    ):
        from rlnas.models import has_builder

        if not has_builder(space):
            raise ConfigError(
                f"rlnas cannot build networks of the {space.name} space; train:DATASET takes nb101, nb201 or darts"
            )
        if isinstance(space, DAGSpace) and settings.width < space.max_vertices - 2:
            raise ConfigError(
                f"width {settings.width} is too small: an {space.name} cell splits it over up to "
                f"{space.max_vertices - 2} vertices; use --width {space.max_vertices - 2} or more"
            )
        resolve_device(settings.device)
        self.data = load_dataset(dataset)
        if min(self.data.image_shape[1:]) < MIN_IMAGE_SIDE:
            raise DataError(
                f"{dataset} has {'x'.join(map(str, self.data.image_shape[1:]))} images; the networks halve the "
                f"resolution twice, so give images of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
            )
        self.name = f"train:{dataset}"
        self.space = space
        self.settings = settings
        self.store = ResultStore(cache_dir() / DEFAULT_DATABASE if database is None else database)
        self._data_key = self.data.digest
        self._settings_key = settings.key()

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        form = stored_form(self.space, pruned)
        arch = self.space.to_text(form)
        key = (self.space.name, arch, self._data_key, self._settings_key)
        metrics = self.store.get(*key)
        if metrics is None:
            _, metrics = train_child(self.space, form, self.data, self.settings)
            metrics = self.store.put(*key, self.data.name, metrics, resolve_device(self.settings.device))
        return Evaluation(pruned, arch, metrics[self.metric], metrics)

    def save_model(self, cell: Cell, path: str | Path) -> dict[str, float]:
        """Train `cell`'s child exactly as its query did (the same seed gives the same weights on the
        CPU) and save it, with what rebuilds it, to `path`; `rlnas.models.load_model(path)` loads it."""
        import torch

        from rlnas.files import atomic_path
        from rlnas.models import MODEL_FORMAT, Macro

        form = stored_form(self.space, self.space.validate(cell))
        model, metrics = train_child(self.space, form, self.data, self.settings)
        mean, std = input_statistics(self.data, self.settings)
        macro = Macro(self.settings.width, self.settings.depth, self.data.image_shape[0], self.data.num_classes)
        payload = {
            "format": MODEL_FORMAT,
            "space": self.space.name,
            "arch": self.space.to_text(form),
            "macro": asdict(macro),
            "weights": {k: v.cpu() for k, v in model.state_dict().items()},
            "input_mean": torch.from_numpy(mean),
            "input_std": torch.from_numpy(std),
            "benchmark": self.name,
            "settings": asdict(self.settings),
            "metrics": metrics,
        }
        with atomic_path(Path(path)) as tmp:
            torch.save(payload, tmp)
        return metrics
