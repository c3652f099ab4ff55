"""The interface every search space offers to benchmarks, strategies and the environment."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rlnas.cells import Cell


class SearchSpace(Protocol):
    name: str
    op_names: tuple[str, ...]

    def validate(self, cell: Cell) -> Cell:
        """Return the pruned cell, or raise InvalidCellError saying why it is outside the space."""
        ...

    def sample(self, rng: np.random.Generator) -> Cell:
        """A random valid, pruned cell: the space's default sampler."""
        ...

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Every distinct (up to isomorphism) valid cell one edit away, pruned, without `cell` itself."""
        ...

    def mutate(self, cell: Cell, rng: np.random.Generator) -> Cell:
        """A uniformly random neighbour."""
        ...

    def cell_from_names(self, matrix: list[list[int]], op_names: list[str]) -> Cell:
        """Parse a user's matrix and op names (with `input`/`output` at the ends) and validate it."""
        ...


def uniform_neighbour(space: SearchSpace, cell: Cell, rng: np.random.Generator) -> Cell:
    neighbours = space.neighbours(cell)
    return neighbours[int(rng.integers(len(neighbours)))]
