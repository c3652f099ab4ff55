"""Ops-on-nodes spaces with vertex and edge limits (NAS-Bench-101), and their neighbour rules.

The neighbour rules are the agent's actions and local search's neighbourhood. Each edit has a
fixed index in a layout that depends only on the space's limits, so that an environment can use
one `Discrete` action space with a validity mask:

    op change       (vertex v, op o)         (max_vertices - 2) * num_ops
    edge toggle     (i, j), i < j            max_vertices * (max_vertices - 1) / 2
    vertex insert   (edge i -> j, op o)      pairs * num_ops: i -> j becomes i -> new -> j
    vertex remove   (vertex v)               max_vertices - 2, with edge regeneration

Vertex removal with edge regeneration deletes v and joins every in-neighbour of v to every
out-neighbour. If that breaks the edge limit, it keeps instead the smallest selection that still
leaves every orphaned vertex connected: each in-neighbour that lost its only out-edge is paired
with an out-neighbour that lost its only in-edge (in order; spare ones go to the first
out-neighbour), and each out-neighbour still without an in-edge takes one from the last
in-neighbour. Every edit's result is pruned and validated; an edit that leaves the space is
invalid (masked).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.cells.cell import bits
from rlnas.errors import ConfigError, InvalidCellError
from rlnas.spaces.base import Choices, chosen_values, distinct_neighbours, uniform_neighbour
from rlnas.spaces.layout import EDGE_TOGGLE, INSERT, NONE, OP_CHANGE, REMOVE, Edit, EditLayout


@dataclass(frozen=True)
class DAGSpace:
    name: str
    op_names: tuple[str, ...]
    max_vertices: int
    max_edges: int
    _pair_index: dict[tuple[int, int], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.op_names or self.max_vertices < 2 or self.max_edges < 1:
            raise ConfigError(
                f"space {self.name!r} has {len(self.op_names)} ops, {self.max_vertices} vertices and "
                f"{self.max_edges} edges at most; give at least 1 op, 2 vertices and 1 edge"
            )
        pairs = [(i, j) for j in range(self.max_vertices) for i in range(j)]
        object.__setattr__(self, "_pair_index", {p: k for k, p in enumerate(pairs)})

    # ------------------------------------------------------------ validity
    def validate(self, cell: Cell) -> Cell:
        pruned = cell.prune()
        if pruned is None:
            raise InvalidCellError("the output cannot be reached from the input; add a path input -> output")
        num_ops = len(self.op_names)
        for v, label in enumerate(pruned.ops[1:-1], start=1):
            if not 0 <= label < num_ops:
                raise InvalidCellError(f"vertex {v} has op label {label}; {self.name} ops are 0..{num_ops - 1}")
        if pruned.num_vertices > self.max_vertices:
            raise InvalidCellError(
                f"{pruned.num_vertices} vertices after pruning; {self.name} allows at most {self.max_vertices}"
            )
        if pruned.num_edges > self.max_edges:
            raise InvalidCellError(
                f"{pruned.num_edges} edges after pruning; {self.name} allows at most {self.max_edges}"
            )
        return pruned

    def is_valid(self, cell: Cell) -> bool:
        try:
            self.validate(cell)
        except InvalidCellError:
            return False
        return True

    def cell_from_names(self, matrix: list[list[int]], op_names: list[str]) -> Cell:
        labels = []
        for k, name in enumerate(op_names):
            if name == "input":
                labels.append(INPUT)
            elif name == "output":
                labels.append(OUTPUT)
            elif name in self.op_names:
                labels.append(self.op_names.index(name))
            else:
                raise InvalidCellError(
                    f"unknown op {name!r} at vertex {k}; {self.name} ops are {', '.join(self.op_names)}"
                )
        return self.validate(Cell.from_matrix(matrix, labels))

    def describe(self, cell: Cell) -> dict:
        names = {INPUT: "input", OUTPUT: "output"} | dict(enumerate(self.op_names))
        return {"matrix": cell.matrix.tolist(), "ops": [names[o] for o in cell.ops]}

    def to_text(self, cell: Cell) -> str:
        """The canonical text form (CSV tables, `rlnas query`'s arch): `describe` as JSON."""
        return json.dumps(self.describe(cell))

    def from_text(self, text: str) -> Cell:
        """Parse `to_text`'s form, `{"matrix": [[...]], "ops": [...]}`, and validate the cell."""
        try:
            data = json.loads(text)
            matrix, ops = data["matrix"], data["ops"]
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise InvalidCellError(
                f'{self.name} archs are JSON {{"matrix": [[...]], "ops": ["input", ..., "output"]}}, not {text[:60]!r}'
            ) from exc
        square = isinstance(matrix, list) and all(isinstance(r, list) and len(r) == len(matrix) for r in matrix)
        if not square or not (isinstance(ops, list) and all(isinstance(o, str) for o in ops)):
            raise InvalidCellError(f"{self.name} archs need a square matrix (a list of rows) and a list of op names")
        return self.cell_from_names(matrix, ops)

    # ------------------------------------------------------------ categorical encoding
    def choices(self) -> Choices:
        """NAS-Bench-101's encoding (its paper's and NASLib's searches): one 0/1 choice per pair i < j of
        the max_vertices x max_vertices upper-triangular matrix (`edge_<i>_<j>`), then the op of each
        interior vertex (`op_<v>`, by name). Some combinations are outside the space (more than
        max_edges edges after pruning, or no input -> output path): `from_choices` refuses them."""
        edges = [(f"edge_{i}_{j}", (0, 1)) for i, j in self._pair_index]
        return [*edges, *((f"op_{v}", self.op_names) for v in range(1, self.max_vertices - 1))]

    def from_choices(self, chosen: Mapping[str, int | str]) -> Cell:
        """The pruned cell of the matrix and ops; vertices off every input -> output path are dropped."""
        values = chosen_values(self, chosen)
        rows = [0] * self.max_vertices
        for (i, j), bit in zip(self._pair_index, values, strict=False):
            rows[i] |= int(bit) << j
        ops = tuple(self.op_names.index(name) for name in values[len(self._pair_index) :])
        return self.validate(Cell(tuple(rows), (INPUT, *ops, OUTPUT)))

    # ------------------------------------------------------------ identity
    @cached_property
    def key_is_exact(self) -> bool:
        """Whether `Cell.key` separates every pair of cells of this space: proven for NB101's limits only,
        where all 423,624 classes get distinct keys (and so does every space inside those limits)."""
        return len(self.op_names) <= 3 and self.max_vertices <= 7 and self.max_edges <= 9

    def identity(self, cell: Cell) -> Hashable:
        """Equal for two pruned cells iff they are the same architecture (isomorphic): the fast `Cell.key`
        where it is proven distinct, the exact `canonical_form` elsewhere."""
        return cell.key if self.key_is_exact else canonical_form(cell)

    # ------------------------------------------------------------ edit layout
    @cached_property
    def edit_layout(self) -> EditLayout:
        """The layout of the module doc: op changes (v, op), edge toggles and insertions (i -> j, op) by
        pair column by column, removals (v); the input (vertex 0) and the output keep their labels."""
        interior, ops = range(1, self.max_vertices - 1), range(len(self.op_names))
        edits = (
            *(Edit(OP_CHANGE, 0, v, NONE, o) for v in interior for o in ops),
            *(Edit(EDGE_TOGGLE, 0, i, j) for i, j in self._pair_index),
            *(Edit(INSERT, 0, i, j, o) for i, j in self._pair_index for o in ops),
            *(Edit(REMOVE, 0, v) for v in interior),
        )
        return EditLayout(edits, num_cells=1, max_vertices=self.max_vertices, num_ops=len(self.op_names))

    @cached_property
    def num_edits(self) -> int:
        return len(self.edit_layout)

    def edits(self, cell: Cell) -> Iterator[tuple[int, Cell]]:
        """Yield (edit index, pruned valid result) for every applicable edit of a pruned valid cell."""
        rows, ops = cell.rows, cell.ops
        n, num_ops = len(rows), len(self.op_names)
        num_edges = cell.num_edges
        index = self.edit_layout.index

        for v in range(1, n - 1):
            for op in range(num_ops):
                if op != ops[v]:
                    yield index[OP_CHANGE, 0, v, NONE, op], Cell(rows, (*ops[:v], op, *ops[v + 1 :]))

        for j in range(1, n):
            for i in range(j):
                if rows[i] >> j & 1:
                    removed = Cell((*rows[:i], rows[i] & ~(1 << j), *rows[i + 1 :]), ops).prune()
                    if removed is not None:
                        yield index[EDGE_TOGGLE, 0, i, j, NONE], removed
                elif num_edges < self.max_edges:
                    yield (
                        index[EDGE_TOGGLE, 0, i, j, NONE],
                        Cell((*rows[:i], rows[i] | 1 << j, *rows[i + 1 :]), ops),
                    )

        if n < self.max_vertices and num_edges < self.max_edges:
            for i in range(n - 1):
                for j in bits(rows[i]):
                    inserted_rows = _insert_vertex(rows, i, j)
                    for op in range(num_ops):
                        yield (
                            index[INSERT, 0, i, j, op],
                            Cell(inserted_rows, (*ops[:j], op, *ops[j:])),
                        )

        for v in range(1, n - 1):
            removed = self._remove_vertex(rows, ops, v)
            if removed is not None:
                yield index[REMOVE, 0, v, NONE, NONE], removed

    def _remove_vertex(self, rows: tuple[int, ...], ops: tuple[int, ...], v: int) -> Cell | None:
        preds = [u for u in range(v) if rows[u] >> v & 1]
        succs = bits(rows[v])
        out = [row & ~(1 << v) for row in rows]
        joined = out.copy()
        succ_mask = rows[v]
        for a in preds:
            joined[a] |= succ_mask
        if sum(row.bit_count() for row in joined) - joined[v].bit_count() > self.max_edges:
            joined = out
            in_degree = {b: sum(1 for u, row in enumerate(out) if u != v and row >> b & 1) for b in succs}
            lonely_preds = [a for a in preds if out[a] == 0]
            lonely_succs = [b for b in succs if in_degree[b] == 0]
            for k, a in enumerate(lonely_preds):
                joined[a] |= 1 << (lonely_succs[k] if k < len(lonely_succs) else succs[0])
            for b in lonely_succs[len(lonely_preds) :]:
                joined[preds[-1]] |= 1 << b
        low = (1 << v) - 1
        new_rows = tuple((row & low) | ((row >> 1) & ~low) for u, row in enumerate(joined) if u != v)
        result = Cell(new_rows, (*ops[:v], *ops[v + 1 :])).prune()
        if result is None or result.num_edges > self.max_edges:
            return None
        return result

    # ------------------------------------------------------------ neighbourhood
    def neighbours(self, cell: Cell) -> list[Cell]:
        return distinct_neighbours(self, cell)

    def mutate(self, cell: Cell, rng: np.random.Generator) -> Cell:
        return uniform_neighbour(self, cell, rng)

    # ------------------------------------------------------------ samplers
    def sample(self, rng: np.random.Generator) -> Cell:
        """Uniform over the space's unique cells (see `rlnas.spaces.strata` and docs/sampler.md)."""
        from rlnas.spaces.strata import stratified_sampler

        return stratified_sampler(self).sample(rng)

    def sample_rejection(self, rng: np.random.Generator) -> Cell:
        """BANANAS' `random_cell_adj`: a random upper-triangular matrix and random ops until valid."""
        n, num_ops = self.max_vertices, len(self.op_names)
        weights = 1 << np.arange(n, dtype=np.int64)
        while True:
            matrix = np.triu(rng.integers(0, 2, size=(n, n)), k=1)
            ops = (INPUT, *(int(o) for o in rng.integers(0, num_ops, size=n - 2)), OUTPUT)
            pruned = Cell(tuple(int(r) for r in matrix @ weights), ops).prune()
            if pruned is not None and pruned.num_edges <= self.max_edges:
                return pruned


def canonical_form(cell: Cell) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An exact isomorphism invariant: (ops, rows) of the relabelling that gives the smallest rows.

    Colour refinement first splits the vertices by op and by the colours of their in- and
    out-neighbours; colours are ranks of sorted signatures, so they do not depend on the labelling.
    Vertices are then ordered by colour, and only vertices of equal colour are permuted, which is one
    permutation for most cells and at most (vertices - 2)! for the most symmetric ones.
    """
    rows, ops = cell.rows, cell.ops
    n = len(rows)
    succs = [bits(row) for row in rows]
    preds: list[list[int]] = [[] for _ in range(n)]
    for i, out in enumerate(succs):
        for j in out:
            preds[j].append(i)
    colour = _ranks(list(ops))
    while True:
        signature = [
            (colour[v], tuple(sorted(colour[u] for u in preds[v])), tuple(sorted(colour[w] for w in succs[v])))
            for v in range(n)
        ]
        refined = _ranks(signature)
        if len(set(refined)) == len(set(colour)):
            break
        colour = refined
    groups = [[v for v in range(n) if colour[v] == c] for c in sorted(set(colour))]
    best = None
    for arrangement in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = [v for group in arrangement for v in group]
        position = {v: i for i, v in enumerate(order)}
        candidate = tuple(sum(1 << position[w] for w in succs[v]) for v in order)
        if best is None or candidate < best:
            best = candidate
    return tuple(ops[v] for v in sorted(range(n), key=colour.__getitem__)), best


def _ranks(values: list) -> list[int]:
    """Each value replaced by its rank among the distinct values."""
    rank = {v: r for r, v in enumerate(sorted(set(values)))}
    return [rank[v] for v in values]


def _insert_vertex(rows: tuple[int, ...], i: int, j: int) -> tuple[int, ...]:
    """Rows after splitting edge i -> j with a new vertex placed at index j."""
    low = (1 << j) - 1
    shifted = [(row & low) | ((row & ~low) << 1) for row in rows]
    shifted[i] = (shifted[i] & ~(1 << (j + 1))) | (1 << j)
    return (*shifted[:j], 1 << (j + 1), *shifted[j:])


NB101_SPACE = DAGSpace(
    name="nb101", op_names=("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"), max_vertices=7, max_edges=9
)
