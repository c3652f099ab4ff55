"""The interface every search space offers to benchmarks, strategies and the environment."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Protocol

import numpy as np

from rlnas.cells import Cell


class SearchSpace(Protocol):
    name: str
    op_names: tuple[str, ...]
    #: The most vertices a cell of the space has (as an ops-on-nodes cell).
    max_vertices: int
    #: Size of the fixed edit (action) layout; see `rlnas.spaces.dag` for the layout.
    num_edits: int

    def edits(self, cell: Cell) -> Iterator[tuple[int, Cell]]:
        """Yield (edit index, pruned valid result) for every applicable edit of a valid cell."""
        ...

    def validate(self, cell: Cell) -> Cell:
        """Return the pruned cell, or raise InvalidCellError saying why it is outside the space."""
        ...

    def sample(self, rng: np.random.Generator) -> Cell:
        """A random valid, pruned cell: the space's default sampler."""
        ...

    def identity(self, cell: Cell) -> Hashable:
        """Equal for two pruned valid cells iff they are the same architecture; what de-duplicates queries."""
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

    def describe(self, cell: Cell) -> dict:
        """A JSON-ready description of a cell in the space's own terms."""
        ...


def uniform_neighbour(space: SearchSpace, cell: Cell, rng: np.random.Generator) -> Cell:
    neighbours = space.neighbours(cell)
    return neighbours[int(rng.integers(len(neighbours)))]
