"""One interface for every performance estimator, and the per-run query accounting.

A `Benchmark` holds the (expensive, shared, read-only) data. A `QuerySession` is one search run
against it: it validates and prunes each queried cell, caches results so that revisits are free,
counts unique and total queries, and refuses to go past its budget of unique cells. Budgets count
unique architectures, as in every fair NAS comparison.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from rlnas.cells import Cell
from rlnas.errors import BudgetExhaustedError, RlnasError
from rlnas.spaces import SearchSpace

#: How a table with several trainings per cell answers: their mean, or one drawn per query.
REPEATS = ("mean", "random")


def check_repeat(repeat: str) -> None:
    if repeat not in REPEATS:
        raise RlnasError(f"--repeat must be one of {', '.join(REPEATS)}, not {repeat!r}")


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
    #: The metric that says what a query costs (seconds of training), where the benchmark has one.
    cost_metric: str | None = None
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


def scores_digest(benchmark: Benchmark) -> str | None:
    """A digest of every architecture's score, in table order, where the benchmark has a table of them
    (`all_scores`); None otherwise. A resumed comparison or search refuses a table whose scores changed
    since its first results (a user's CSV file edited, another data folder)."""
    try:
        scores = benchmark.all_scores()
    except RlnasError:
        return None
    return hashlib.sha256(np.ascontiguousarray(scores, dtype=np.float64).tobytes()).hexdigest()[:16]


class QuerySession:
    """One run's accounting: a cache of results by exact form and by identity, the history of
    unique queries in order, and the budget. `query` is the synchronous path (look up at once);
    the ask/tell runner splits it into `find` and `record` so that look-ups can run elsewhere."""

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

    def find(self, cell: Cell) -> tuple[Cell, object, Evaluation | None]:
        """Validate `cell`: its pruned form, its identity, and its cached result (None when new).

        Raises InvalidCellError for a cell outside the space. Counts one (possibly free) query.
        """
        self.total_queries += 1
        cached = self._by_form.get((cell.rows, cell.ops))
        if cached is not None:
            return cached.cell, None, cached
        pruned = self.benchmark.space.validate(cell)
        identity = self.benchmark.identity(pruned)
        result = self._by_identity.get(identity)
        if result is not None:
            self._by_form[cell.rows, cell.ops] = result
        return pruned, identity, result

    def record(self, cell: Cell, identity: object, result: Evaluation) -> None:
        """Enter the result of a new architecture (`identity` from `find`) into the history."""
        self._by_identity[identity] = result
        self._by_form[cell.rows, cell.ops] = result
        self.history.append(result)
        if self.best is None or result.score > self.best.score:
            self.best = result

    def query(self, cell: Cell) -> Evaluation:
        """The result of `cell`, looked up now when it is new (and spending one unit of budget)."""
        pruned, identity, result = self.find(cell)
        if result is None:
            if self.exhausted:
                raise BudgetExhaustedError(
                    f"the budget of {self.budget} unique architectures is spent; raise --budget to query more"
                )
            result = self.benchmark.lookup(pruned, self.rng)
            self.record(cell, identity, result)
        return result


class ToldResults(Benchmark):
    """A benchmark that knows only what it is told: for searches whose evaluation happens outside
    rlnas (the user's own training code, or a strategy mirroring the results the runner told it).
    A look-up answers with the result told for that architecture, once."""

    metric = "score"
    best_possible = None

    def __init__(self, space: SearchSpace, name: str = "told"):
        self.space = space
        self.name = name
        self._told: dict[object, Evaluation] = {}

    def tell(self, result: Evaluation) -> None:
        """The answer to the next look-up of `result.cell` (or of a cell isomorphic to it)."""
        self._told[self.identity(result.cell)] = result

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        result = self._told.pop(self.identity(pruned), None)
        if result is None:
            raise RlnasError("this search evaluates architectures outside rlnas: tell it each result (Search.tell)")
        return result

    def all_scores(self) -> np.ndarray:
        raise RlnasError("a search with told results has no table of scores")
