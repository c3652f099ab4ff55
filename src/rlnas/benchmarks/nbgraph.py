"""NAS-Bench-Graph (Qin et al. 2022) from the tables shipped inside the `nas-bench-graph` wheel.

The wheel's "light" tables hold, for every architecture of each of nine node-classification
datasets, the validation and test performance, the latency and the parameter count; nothing is
downloaded. (The per-epoch curves of the full benchmark are a separate download that rlnas does
not use.) Search uses the validation metric; the test metric is reported beside it. Performance is
accuracy, except on ogbn-proteins, where it is ROC-AUC and the op set is smaller.
"""

from __future__ import annotations

import pickle
from importlib import resources

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation
from rlnas.cells import Cell
from rlnas.errors import DataError
from rlnas.spaces.nbgraph import NBGRAPH_PROTEINS_SPACE, NBGRAPH_SPACE, NBGraphSpace

DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")


def table_path(dataset: str):
    """Where the wheel keeps a dataset's table (a Traversable); DataError when the package is missing."""
    try:
        return resources.files("nas_bench_graph") / "light" / f"{dataset}.bench"
    except ModuleNotFoundError as exc:
        raise DataError("NAS-Bench-Graph needs the nas-bench-graph package: pip install nas-bench-graph") from exc


def space_of(dataset: str) -> NBGraphSpace:
    return NBGRAPH_PROTEINS_SPACE if dataset == "proteins" else NBGRAPH_SPACE


class NBGraphBenchmark(Benchmark):
    """One dataset's table: one value per architecture and metric, so `repeat` has nothing to draw."""

    def __init__(self, dataset: str):
        if dataset not in DATASETS:
            raise DataError(f"unknown NAS-Bench-Graph dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        self.name = f"nbgraph-{dataset}"
        self.space = space_of(dataset)
        kind = "roc_auc" if dataset == "proteins" else "accuracy"
        self.metric = f"validation_{kind}"
        table = _read_table(dataset)
        keys = self.space.table_keys()
        if sorted(table) != keys.tolist():
            raise DataError(
                f"the {dataset} table of nas-bench-graph does not hold the architectures its own Arch.valid_hash "
                "gives; reinstall nas-bench-graph 1.4"
            )
        columns = {self.metric: "valid_perf", f"test_{kind}": "perf", "latency": "latency", "parameters": "para"}
        self._values = {
            ours: np.array([float(table[k][theirs]) for k in keys.tolist()]) for ours, theirs in columns.items()
        }
        self._keys = keys.tolist()
        self.best_possible = float(self._values[self.metric].max())

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        row = self.space.class_index(pruned)
        metrics = {name: float(values[row]) for name, values in self._values.items()}
        return Evaluation(self.space.cell_of_class(row), str(self._keys[row]), metrics[self.metric], metrics)

    def all_scores(self) -> np.ndarray:
        return self._values[self.metric]

    def metric_values(self, name: str) -> np.ndarray:
        """Another metric of every architecture, in the order of `all_scores` (e.g. the test metric)."""
        return self._values[name]


def _read_table(dataset: str) -> dict:
    path = table_path(dataset)
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"cannot read the NAS-Bench-Graph {dataset} table ({exc}); reinstall nas-bench-graph") from exc
