"""The non-learning baselines every NAS method must beat.

All of them draw new cells from the space's default sampler and move with its neighbour rules;
revisiting a cell is free (the query session caches it), so only new cells spend budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlnas.benchmarks import Evaluation, QuerySession
from rlnas.strategies.base import Strategy


class RandomSearch(Strategy):
    name = "rs"

    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        space = session.benchmark.space
        while not session.exhausted:
            session.query(space.sample(rng))


class RandomWalk(Strategy):
    """From a random cell, move to a uniformly random neighbour at every step."""

    name = "rw"

    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        space = session.benchmark.space
        cell = session.query(space.sample(rng)).cell
        while not session.exhausted:
            cell = session.query(space.mutate(cell, rng)).cell


@dataclass
class LocalSearch(Strategy):
    """NASLib's local search: query the whole shuffled neighbourhood of the best cell so far.

    After `num_init` random cells, the best one becomes the centre; all its neighbours are
    queried in random order; if one beat the centre, the best becomes the new centre, otherwise
    the centre is a local optimum and the search restarts from a fresh random cell.
    """

    num_init: int = 10
    name = "ls"

    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        space = session.benchmark.space
        best: Evaluation | None = None
        for _ in range(self.num_init):
            if session.exhausted:
                return
            result = session.query(space.sample(rng))
            best = result if best is None or result.score > best.score else best
        assert best is not None
        while not session.exhausted:
            centre = best
            neighbours = space.neighbours(centre.cell)
            for k in rng.permutation(len(neighbours)):
                if session.exhausted:
                    return
                result = session.query(neighbours[k])
                if result.score > best.score:
                    best = result
            if best is centre and not session.exhausted:  # a local optimum: restart
                best = session.query(space.sample(rng))


@dataclass
class RegularizedEvolution(Strategy):
    """Real et al. (2019): tournament selection, mutate the winner, the oldest member dies."""

    population_size: int = 30
    tournament_size: int = 10
    name = "re"

    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        space = session.benchmark.space
        population: list[Evaluation] = []
        while len(population) < self.population_size and not session.exhausted:
            population.append(session.query(space.sample(rng)))
        while not session.exhausted:
            contenders = rng.choice(len(population), size=min(self.tournament_size, len(population)), replace=False)
            parent = max((population[k] for k in contenders), key=lambda e: e.score)
            population.append(session.query(space.mutate(parent.cell, rng)))
            population.pop(0)
