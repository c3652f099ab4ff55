"""The ask/tell interface shared by every search strategy.

A strategy proposes cells (`ask`) and is told their results (`tell`); it never queries a
benchmark itself. The runner (`rlnas.strategies.runner`) owns the loop: the budget, revisits
(answered at once from the run's cache, for free), parallel evaluation and resumption. This is
the split of NASLib's optimizers and Optuna's ask/tell, and it is what lets any strategy keep
several evaluations in flight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from rlnas.benchmarks import Benchmark, Evaluation
from rlnas.cells import Cell
from rlnas.spaces import SearchSpace
from rlnas.strategies.runner import run_search


class Strategy(ABC):
    """A search strategy: all of its randomness comes from the generator given to `start`."""

    name: str
    space: SearchSpace
    rng: np.random.Generator
    #: The run's budget of unique architectures, set by the runner before `start` (None: open-ended);
    #: a budget-aware strategy (the learned searcher) plans with it.
    budget: int | None = None

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        """Begin a new run in `space`; subclasses reset their state here (and call this first)."""
        self.space = space
        self.rng = rng

    @abstractmethod
    def ask(self) -> Cell | None:
        """The next cell to evaluate, or None to wait for the results of the cells in flight; None with
        nothing in flight ends the run (`stop_reason` "strategy_finished").

        A cell that was evaluated before is told back at once, for free (`new` is False).
        """

    @abstractmethod
    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        """The result of `cell`, the very object `ask` returned; `new` is False for a revisit.

        With several evaluations in flight, results may come in another order than the asks.
        """

    def run(self, benchmark: Benchmark, budget: int, rng: np.random.Generator) -> list[Evaluation]:
        """Search `benchmark` in-process until `budget` unique cells are evaluated; the history."""
        return run_search(self, benchmark, budget, rng).history
