"""NAS-Bench-101 as a tabular benchmark, from the shared data or from the official file.

The data is reduced once to `NB101Table` plus one `Cell.key` per row, stored in the cache folder;
later loads read that file and build a key -> row dictionary, which is what makes a query cost
one fingerprint and one dictionary look-up instead of an MD5 module hash.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation, check_repeat
from rlnas.benchmarks.nb101_table import NB101Table
from rlnas.cells import Cell
from rlnas.data import DATA_ENV, cache_dir, data_dir
from rlnas.errors import DataError
from rlnas.files import write_atomic
from rlnas.spaces import NB101_SPACE

NUM_CELLS = 423_624
SHARED_CACHE = "nb101-shared.npz"
#: The shared data's files, in `DATA/nb101/`.
SHARED_FILES = ("cells_by_hash.npz", "seed0_test_accuracy.npy")
SOURCE_FILE_SUFFIX = ".source.txt"
OFFICIAL_CACHE = "nb101-official.npz"
KEYS_FILE_SUFFIX = ".keys.npy"
#: Python's hash of this tuple tags the stored keys: if a Python version ever hashed tuples
#: differently, the keys would be rebuilt instead of silently missing.
_KEY_PROBE = (-1, 0, 1, 2, -2)


def table_cells(table: NB101Table) -> list[Cell]:
    weights = 1 << np.arange(table.adj.shape[1], dtype=np.int64)
    rows = (table.adj.astype(np.int64) * weights).sum(axis=2).tolist()
    ops = table.ops.tolist()
    return [Cell(tuple(r[:v]), tuple(o[:v])) for r, o, v in zip(rows, ops, table.num_vertices.tolist(), strict=True)]


def missing_file(path: Path) -> DataError:
    return DataError(f"{path} is missing: point RLNAS_DATA or --data at the folder holding nb101/")


def read_shared_data(folder: Path) -> NB101Table:
    """Read `nb101/cells_by_hash.npz` and `nb101/seed0_test_accuracy.npy`, checking their shape."""
    cells_path, acc_path = (folder / "nb101" / name for name in SHARED_FILES)
    for path in (cells_path, acc_path):
        if not path.is_file():
            raise missing_file(path)
    try:
        with np.load(cells_path) as cells:
            table = NB101Table(cells["hashes"], cells["adj"], cells["ops"], cells["num_vertices"])
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{cells_path} is truncated or corrupt ({_first_line(exc)}); copy it again") from exc
    try:
        accuracy = np.load(acc_path)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{acc_path} is truncated or corrupt ({_first_line(exc)}); copy it again") from exc
    lengths = {len(table.hashes), len(table.adj), len(table.ops), len(table.num_vertices), len(accuracy)}
    if lengths != {NUM_CELLS}:
        raise DataError(
            f"NB101 data must have {NUM_CELLS} rows in every array, found {sorted(lengths)}; copy nb101/ again"
        )
    if not np.all(table.hashes[1:] > table.hashes[:-1]):
        raise DataError(f"{cells_path} hashes are not strictly ascending; the file is corrupt, copy it again")
    if not np.all((accuracy >= 0) & (accuracy <= 1)):
        raise DataError(f"{acc_path} holds accuracies outside [0, 1]; the file is corrupt, copy it again")
    if not np.array_equal(accuracy.astype(np.float32), accuracy):
        raise DataError(f"{acc_path} values are not float32 accuracies; the file is corrupt, copy it again")
    table.metrics["test_accuracy"] = accuracy.astype(np.float32)[:, None]
    return table


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def fingerprint_keys(table: NB101Table) -> np.ndarray:
    keys = np.array([cell.key for cell in table_cells(table)], dtype=np.int64)
    if len(np.unique(keys)) != len(keys):
        raise DataError("two NB101 cells share a fingerprint key; this is a bug in rlnas, please report it")
    return keys


def source_identity(folder: Path) -> str:
    """What the shared cache was built from: the data files' full paths, sizes and modification times."""
    lines = []
    for name in SHARED_FILES:
        path = (folder / "nb101" / name).resolve()
        try:
            stat = path.stat()
        except OSError as exc:
            raise missing_file(path) from exc
        lines.append(f"{path} {stat.st_size} {stat.st_mtime_ns}")
    return "\n".join(lines) + "\n"


def _source_path(path: Path) -> Path:
    return path.with_name(path.name + SOURCE_FILE_SUFFIX)


def build_cache(table: NB101Table, path: Path, source: str | None = None) -> None:
    """Store the table, what it was built from, and its keys; the keys file is written last, so it marks a
    complete cache."""
    table.save(path)
    if source is not None:
        write_atomic(_source_path(path), source)
    keys_path = path.with_name(path.name + KEYS_FILE_SUFFIX)
    tmp = keys_path.with_name(keys_path.name + ".tmp.npy")
    np.save(tmp, np.append(fingerprint_keys(table), hash(_KEY_PROBE)))
    tmp.replace(keys_path)


def load_cache(path: Path) -> tuple[NB101Table, np.ndarray] | None:
    keys_path = path.with_name(path.name + KEYS_FILE_SUFFIX)
    if not (path.is_file() and keys_path.is_file()):
        return None
    table = NB101Table.load(path)
    try:
        keys = np.load(keys_path)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {keys_path} ({exc}); delete it and run `rlnas data`") from exc
    if len(keys) != len(table) + 1 or keys[-1] != hash(_KEY_PROBE):
        keys_path.unlink()
        return None
    return table, keys[:-1]


def prepare(data: str | Path | None = None) -> Path:
    """Make sure an NB101 cache exists, building it from the shared data if need be; return its path.

    The official cache (`rlnas data --tfrecord FILE`), where built, is used whatever the data folder. The shared
    cache serves only the data it was built from: named another folder, or files changed since, it is
    rebuilt; with no data folder named at all it serves as it is."""
    official = cache_dir() / OFFICIAL_CACHE
    if official.is_file():
        if load_cache(official) is None:
            build_cache(NB101Table.load(official), official)
        return official
    shared = cache_dir() / SHARED_CACHE
    if data is None and not os.environ.get(DATA_ENV):  # no data named: the cache serves as it is
        if load_cache(shared) is None:
            data_dir(data)  # one line: no data folder given
        return shared
    folder = data_dir(data)
    source = source_identity(folder)
    recorded = _source_path(shared)
    if load_cache(shared) is None or not recorded.is_file() or recorded.read_text() != source:
        build_cache(read_shared_data(folder), shared, source)  # first use, or other (or changed) data
    return shared


class NB101Benchmark(Benchmark):
    """NB101 CIFAR-10 accuracies after 108 epochs; validation accuracy drives the search when present.

    `repeat` chooses between the mean over training repeats and one repeat drawn from the query's
    generator. With the shared data there is a single repeat of test accuracy only.
    """

    name = "nb101"
    space = NB101_SPACE

    def __init__(self, table: NB101Table, keys: np.ndarray, repeat: str = "mean"):
        check_repeat(repeat)
        self.table = table
        self.repeat = repeat
        self._row_of_key = dict(zip(keys.tolist(), range(len(keys)), strict=True))
        self.metric = "validation_accuracy" if "validation_accuracy" in table.metrics else "test_accuracy"
        self.cost_metric = "training_time" if "training_time" in table.metrics else None
        self._repeats = table.metrics[self.metric].shape[1]
        self._per_repeat = {name: v for name, v in table.metrics.items() if v.ndim == 2}
        self._mean = {name: (np.nanmean(v, axis=1) if v.ndim == 2 else v) for name, v in table.metrics.items()}
        self.best_possible = float(self._mean[self.metric].max())

    @classmethod
    def load(cls, data: str | Path | None = None, repeat: str = "mean") -> NB101Benchmark:
        table, keys = load_cache(prepare(data))  # type: ignore[misc]
        return cls(table, keys, repeat)

    def row_of(self, cell: Cell) -> int:
        row = self._row_of_key.get(cell.key)
        if row is None:
            raise DataError(f"{cell} is valid but missing from the NB101 table; the table is incomplete")
        return row

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        row = self.row_of(pruned)
        metrics = {name: float(values[row]) for name, values in self._mean.items()}
        if self.repeat == "random" and rng is not None and self._repeats > 1:
            pick = int(rng.integers(self._repeats))
            metrics.update({name: float(values[row, pick]) for name, values in self._per_repeat.items()})
        return Evaluation(pruned, self.table.hashes[row].decode(), metrics[self.metric], metrics)

    def all_scores(self) -> np.ndarray:
        return self._mean[self.metric]

    def best_cell(self) -> Cell:
        row = int(np.argmax(self._mean[self.metric]))
        v = int(self.table.num_vertices[row])
        return NB101_SPACE.validate(Cell.from_matrix(self.table.adj[row, :v, :v], self.table.ops[row, :v]))
