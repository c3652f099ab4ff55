"""The non-learning baselines every NAS method must beat, as ask/tell strategies.

All of them draw new cells from the space's default sampler and move with its neighbour rules;
revisiting a cell is free (the runner answers it from the run's cache), so only new cells spend
budget. Random search and regularized evolution can keep any number of evaluations in flight;
random walk and local search decide each step on the last result, so they wait for it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from rlnas.benchmarks import Evaluation
from rlnas.cells import Cell
from rlnas.errors import ConfigError
from rlnas.spaces import SearchSpace
from rlnas.strategies.base import Strategy


class RandomSearch(Strategy):
    name = "rs"

    def ask(self) -> Cell:
        return self.space.sample(self.rng)

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        pass


class RandomWalk(Strategy):
    """From a random cell, move to a uniformly random neighbour at every step."""

    name = "rw"

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        self.current: Cell | None = None
        self.waiting = False

    def ask(self) -> Cell | None:
        if self.waiting:
            return None
        self.waiting = True
        return self.space.sample(self.rng) if self.current is None else self.space.mutate(self.current, self.rng)

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        self.current = result.cell
        self.waiting = False


@dataclass
class LocalSearch(Strategy):
    """NASLib's local search: query the whole shuffled neighbourhood of the best cell so far.

    After `num_init` random cells, the best one becomes the centre; all its neighbours are
    queried in random order; if one beat the centre, the best becomes the new centre, otherwise
    the centre is a local optimum and the search restarts from a fresh random cell. A
    neighbourhood is asked for all at once; the next centre is chosen when all of it is told.
    """

    num_init: int = 10
    """Random cells queried before the first centre (NASLib's default)."""
    name = "ls"

    def __post_init__(self) -> None:
        if self.num_init < 1:
            raise ConfigError(f"ls setting num_init must be at least 1, got {self.num_init}")

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        self.best: Evaluation | None = None
        self.centre: Evaluation | None = None
        self.queue: deque[Cell] = deque()
        self.initial_left = self.num_init
        self.in_flight = 0
        self.restart: Cell | None = None  # the fresh cell of a restart, until it is told

    def ask(self) -> Cell | None:
        if self.initial_left:
            self.initial_left -= 1
            return self._asked(self.space.sample(self.rng))
        if not self.queue:
            if self.in_flight:
                return None  # the neighbourhood (or the restart) is not told yet
            if self.centre is not None and self.best is self.centre and self.restart is None:
                self.restart = self.space.sample(self.rng)  # a local optimum: restart
                return self._asked(self.restart)
            self.restart = None
            self.centre = self.best
            assert self.centre is not None
            neighbours = self.space.neighbours(self.centre.cell)
            self.queue.extend(neighbours[k] for k in self.rng.permutation(len(neighbours)))
            if not self.queue:
                return self.ask()  # a cell without neighbours is a local optimum
        return self._asked(self.queue.popleft())

    def _asked(self, cell: Cell) -> Cell:
        self.in_flight += 1
        return cell

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        self.in_flight -= 1
        if cell is self.restart or self.best is None or result.score > self.best.score:
            self.best = result


@dataclass
class RegularizedEvolution(Strategy):
    """Real et al. (2019): tournament selection, mutate the winner, the oldest member dies.

    With several evaluations in flight it is the asynchronous variant of the paper: each
    proposal's tournament is drawn from the population as it stands.
    """

    population_size: int = 30
    """Members kept: each new result joins, and the oldest dies."""
    tournament_size: int = 10
    """Members drawn at random per proposal (at most the population there is); the best of them is mutated."""
    name = "re"

    def __post_init__(self) -> None:
        for name in ("population_size", "tournament_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"re setting {name} must be at least 1, got {getattr(self, name)}")

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        self.population: deque[Evaluation] = deque()
        self.initial_left = self.population_size

    def ask(self) -> Cell | None:
        if self.initial_left:
            self.initial_left -= 1
            return self.space.sample(self.rng)
        if not self.population:
            return None
        size = min(self.tournament_size, len(self.population))
        contenders = self.rng.choice(len(self.population), size=size, replace=False)
        parent = max((self.population[k] for k in contenders), key=lambda e: e.score)
        return self.space.mutate(parent.cell, self.rng)

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        self.population.append(result)
        if len(self.population) > self.population_size:
            self.population.popleft()
