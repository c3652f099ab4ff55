"""The search interface shared by the baselines, the REINFORCE controller and the learned agent."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from rlnas.benchmarks import Benchmark, Evaluation, QuerySession


class Strategy(ABC):
    """A search strategy: spends a budget of unique queries on a benchmark, all randomness from `rng`."""

    name: str

    def run(self, benchmark: Benchmark, budget: int, rng: np.random.Generator) -> list[Evaluation]:
        """Search until `budget` unique cells are queried; return them in query order."""
        benchmark_rng, search_rng = rng.spawn(2)
        session = benchmark.session(budget, benchmark_rng)
        self.search(session, search_rng)
        return session.history

    @abstractmethod
    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        """Query cells through `session` until `session.exhausted`."""
