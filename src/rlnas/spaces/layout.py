"""A space's published edit layout: what each index of its fixed action layout does.

A space defines its layout once, in its own module (`DAGSpace`, `NB201Space`, `NBGraphSpace`,
`DARTSSpace`), and its `edits()` reads the indices from it; the environment and the Q-network read
the same object, so nothing else hard-codes a space's layout. Each edit has a kind and arguments
in terms of the vertices of the (ops-on-nodes) cell it edits, before the edit:

    op change       vertex v gets op `op`
    edge toggle     the edge vertex -> other is added or removed
    insert          the edge vertex -> other is split by a new vertex with op `op` (placed at index `other`)
    remove          vertex v is removed, with edge regeneration
    source change   vertex v (which has a single in-edge) reads vertex `other` instead

`cell` says which cell of a several-cell architecture the edit touches (0 for one-cell spaces).
Unused arguments are `NONE` (-1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

EDIT_KINDS = ("op_change", "edge_toggle", "insert", "remove", "source_change")
OP_CHANGE, EDGE_TOGGLE, INSERT, REMOVE, SOURCE_CHANGE = range(len(EDIT_KINDS))
NONE = -1


class Edit(NamedTuple):
    """One entry of a layout; a plain tuple, so that `layout.index[kind, cell, vertex, other, op]` finds it."""

    kind: int
    cell: int
    vertex: int
    other: int = NONE
    op: int = NONE

    def describe(self, op_names: tuple[str, ...] | None = None) -> str:
        """e.g. `op_change(cell=0, vertex=2, op=conv1x1-bn-relu)`."""
        args = [f"cell={self.cell}", f"vertex={self.vertex}"]
        if self.other != NONE:
            args.append(f"other={self.other}")
        if self.op != NONE:
            args.append(f"op={self.op if op_names is None else op_names[self.op]}")
        return f"{EDIT_KINDS[self.kind]}({', '.join(args)})"


@dataclass(frozen=True, eq=False)
class EditLayout:
    """The edits of a space in index order, for architectures of `num_cells` cells of at most
    `max_vertices` vertices each and `num_ops` ops."""

    edits: tuple[Edit, ...]
    num_cells: int
    max_vertices: int
    num_ops: int

    def __len__(self) -> int:
        return len(self.edits)

    def __getitem__(self, index: int) -> Edit:
        return self.edits[index]

    @cached_property
    def index(self) -> dict[tuple[int, int, int, int, int], int]:
        """Edit (as a tuple) -> its index: what `edits()` uses to number what it yields."""
        return {edit: i for i, edit in enumerate(self.edits)}

    @cached_property
    def arrays(self) -> np.ndarray:
        """(num_edits, 5) int16: kind, cell, vertex, other, op of every edit (what the environment encodes)."""
        return np.array(self.edits, dtype=np.int16).reshape(len(self.edits), len(Edit._fields))

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        """The kinds the layout uses, in order of first appearance."""
        return tuple(dict.fromkeys(EDIT_KINDS[e.kind] for e in self.edits))
