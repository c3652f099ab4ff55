"""Architectures made of several cells (DARTS: a normal and a reduction cell).

`Arch` offers the part of `Cell`'s interface that the query session, the caches and the
cell-agnostic strategies use (`rows`, `ops`, `key`, `prune()`, `num_vertices`, `num_edges`,
equality, hashing, JSON), so that they work on several-cell architectures unchanged. The cells
are in a fixed order and play fixed roles: they are never permuted when comparing architectures.
"""

from __future__ import annotations

import json

from rlnas.cells.cell import Cell
from rlnas.errors import InvalidCellError


class Arch:
    """An immutable tuple of cells; equality is on the exact cells, `key` is isomorphism-invariant per cell."""

    __slots__ = ("_key", "cells")

    def __init__(self, cells: tuple[Cell, ...]):
        if not cells or not all(isinstance(c, Cell) for c in cells):
            raise InvalidCellError("an architecture is a non-empty tuple of cells")
        self.cells = tuple(cells)
        self._key: int | None = None

    @property
    def rows(self) -> tuple[tuple[int, ...], ...]:
        return tuple(c.rows for c in self.cells)

    @property
    def ops(self) -> tuple[tuple[int, ...], ...]:
        return tuple(c.ops for c in self.cells)

    @property
    def key(self) -> int:
        """The cells' keys combined in order: equal for architectures whose cells are pairwise isomorphic."""
        if self._key is None:
            self._key = hash(tuple(c.key for c in self.cells))
        return self._key

    @property
    def num_vertices(self) -> int:
        return sum(c.num_vertices for c in self.cells)

    @property
    def num_edges(self) -> int:
        return sum(c.num_edges for c in self.cells)

    def prune(self) -> Arch | None:
        """Prune every cell; None if any cell has no input -> output path, self if nothing changes."""
        pruned = tuple(c.prune() for c in self.cells)
        if any(p is None for p in pruned):
            return None
        if all(p is c for p, c in zip(pruned, self.cells, strict=True)):
            return self
        return Arch(pruned)

    def to_json(self) -> dict:
        return {"cells": [c.to_json() for c in self.cells]}

    @classmethod
    def from_json(cls, obj: dict | str) -> Arch:
        data = json.loads(obj) if isinstance(obj, str) else obj
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise InvalidCellError(f"an architecture in JSON is {{'cells': [cell, ...]}}, not {obj!r:.80}")
        return cls(tuple(Cell.from_json(c) for c in data["cells"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arch) and self.cells == other.cells

    def __hash__(self) -> int:
        return hash(self.cells)

    def __repr__(self) -> str:
        return f"Arch({', '.join(map(repr, self.cells))})"


def from_json(obj: dict | str) -> Cell | Arch:
    """A cell or an architecture from its `to_json()` form (what a journal stores)."""
    data = json.loads(obj) if isinstance(obj, str) else obj
    return Arch.from_json(data) if isinstance(data, dict) and "cells" in data else Cell.from_json(data)
