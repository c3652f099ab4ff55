"""The interface every search space offers to benchmarks, strategies and the environment."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Protocol

import numpy as np

from rlnas.cells import Cell
from rlnas.errors import InvalidCellError
from rlnas.spaces.layout import EditLayout


class SearchSpace(Protocol):
    name: str
    op_names: tuple[str, ...]
    #: The most vertices a cell of the space has (as an ops-on-nodes cell).
    max_vertices: int
    #: Size of the fixed edit (action) layout: `len(edit_layout)`.
    num_edits: int
    #: What each edit index does (`rlnas.spaces.layout`): what `edits()` numbers its edits by.
    edit_layout: EditLayout

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

    def to_text(self, cell: Cell) -> str:
        """The cell as one line of text (a csv: table's arch column, a stored model's arch)."""
        ...

    def from_text(self, text: str) -> Cell:
        """The cell `to_text` wrote, validated; InvalidCellError for text that is not one."""
        ...


#: A space's architectures as categorical choices: (name, options) in a fixed order; options are
#: ints or strings, so that outside optimisers (Optuna's distributions, ConfigSpace) take them as they are.
Choices = list[tuple[str, tuple[int | str, ...]]]


class CategoricalSpace(SearchSpace, Protocol):
    """A space whose architectures are a fixed set of categorical choices (what `tpe` searches)."""

    def choices(self) -> Choices:
        """Every choice, (name, options), in a fixed order."""
        ...

    def from_choices(self, chosen: Mapping[str, int | str]) -> Cell:
        """The pruned valid cell of one option per choice; InvalidCellError for a combination outside the space."""
        ...


def chosen_values(space: CategoricalSpace, chosen: Mapping[str, int | str]) -> list[int | str]:
    """The option chosen for every choice of `space`, in order; InvalidCellError for a missing or unknown one."""
    values = []
    for name, options in space.choices():
        if name not in chosen:
            raise InvalidCellError(f"no option for the choice {name!r} of {space.name}; give one of {options}")
        if chosen[name] not in options:
            raise InvalidCellError(f"{name}={chosen[name]!r} is not an option of {space.name}; give one of {options}")
        values.append(chosen[name])
    return values


def distinct_neighbours(space: SearchSpace, cell: Cell) -> list[Cell]:
    """The results of `space.edits(cell)`, one per identity, without `cell`'s own."""
    seen = {space.identity(cell)}
    result = []
    for _, candidate in space.edits(cell):
        identity = space.identity(candidate)
        if identity not in seen:
            seen.add(identity)
            result.append(candidate)
    return result


def uniform_neighbour(space: SearchSpace, cell: Cell, rng: np.random.Generator) -> Cell:
    neighbours = space.neighbours(cell)
    return neighbours[int(rng.integers(len(neighbours)))]
