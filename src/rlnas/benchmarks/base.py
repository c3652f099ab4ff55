"""One interface for every performance estimator, and the per-run query accounting.

A `Benchmark` holds the (expensive, shared, read-only) data. A `QuerySession` is one search run
against it: it validates and prunes each queried cell, caches results so that revisits are free,
counts unique and total queries, and refuses to go past its budget of unique cells. Budgets count
unique architectures, as in every fair NAS comparison.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from rlnas.cells import Cell
from rlnas.errors import BudgetExhaustedError, RlnasError
from rlnas.spaces import SearchSpace


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a benchmark knows of one (pruned) cell; `score` is the benchmark's selection metric."""

    cell: Cell
    hash: str
    score: float
    metrics: dict[str, float]


class Benchmark(ABC):
    name: str
    space: SearchSpace
    #: The metric strategies maximise (validation accuracy when the source has it).
    metric: str
    #: The best value of `metric` over the whole benchmark, for regret; None where it is unknown
    #: (a surrogate, real training, a partial table): then only the best-so-far is reported.
    best_possible: float | None = None

    def evaluate(self, cell: Cell, rng: np.random.Generator | None = None) -> Evaluation:
        """Look a cell up without any accounting; raises InvalidCellError for a cell outside the space.

        `rng` draws whatever the benchmark samples (e.g. a training repeat); None means the
        deterministic choice (e.g. the mean over repeats).
        """
        return self.lookup(self.space.validate(cell), rng)

    @abstractmethod
    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        """`evaluate` for a cell that `space.validate` has already pruned and checked."""

    def all_scores(self) -> np.ndarray:
        """`metric` (mean over repeats) of every cell of the benchmark, for histograms and regret.

        Only tables know every cell; other benchmarks keep this default.
        """
        raise RlnasError(f"{self.name} has no table of every architecture's score; use a tabular benchmark")

    def identity(self, cell: Cell) -> object:
        """What makes two cells the same architecture here: the space's identity (isomorphism, or
        the benchmark's own equivalence where the space has one, as NAS-Bench-Graph does)."""
        return self.space.identity(cell)

    def session(self, budget: int | None = None, rng: np.random.Generator | None = None) -> QuerySession:
        return QuerySession(self, budget, rng)


class QuerySession:
    def __init__(self, benchmark: Benchmark, budget: int | None, rng: np.random.Generator | None):
        self.benchmark = benchmark
        self.budget = budget
        self.rng = rng
        self.total_queries = 0
        self.history: list[Evaluation] = []  # unique queries, in order
        self.best: Evaluation | None = None
        self._by_form: dict[tuple, Evaluation] = {}  # exact (rows, ops) -> result: skips hashing
        self._by_identity: dict[object, Evaluation] = {}

    @property
    def unique_queries(self) -> int:
        return len(self.history)

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and len(self.history) >= self.budget

    def seen(self, cell: Cell) -> bool:
        """Whether querying `cell` would be free (it, or an isomorphic cell, was queried)."""
        if (cell.rows, cell.ops) in self._by_form:
            return True
        pruned = cell.prune()
        return pruned is not None and self.benchmark.identity(pruned) in self._by_identity

    def query(self, cell: Cell) -> Evaluation:
        self.total_queries += 1
        form = (cell.rows, cell.ops)
        cached = self._by_form.get(form)
        if cached is not None:
            return cached
        pruned = self.benchmark.space.validate(cell)
        identity = self.benchmark.identity(pruned)
        result = self._by_identity.get(identity)
        if result is None:
            if self.exhausted:
                raise BudgetExhaustedError(
                    f"the budget of {self.budget} unique architectures is spent; raise --budget to query more"
                )
            result = self.benchmark.lookup(pruned, self.rng)
            self._by_identity[identity] = result
            self.history.append(result)
            if self.best is None or result.score > self.best.score:
                self.best = result
        self._by_form[form] = result
        return result
