"""Every space's published edit layout says what each index of `edits()` does.

Each test applies the layout's entry to the cell with reference code written here (numpy
matrices, the spaces' native forms) and compares with the result `edits()` yields at that index.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from rlnas.cells import Arch, Cell
from rlnas.spaces import DARTS_SPACE, NB101_SPACE, NB201_SPACE, NBGRAPH_PROTEINS_SPACE, NBGRAPH_SPACE, DAGSpace
from rlnas.spaces.layout import EDGE_TOGGLE, EDIT_KINDS, INSERT, NONE, OP_CHANGE, REMOVE, SOURCE_CHANGE
from rlnas.spaces.nbgraph import arch_to_cell, cell_to_arch

SPACES = [
    NB101_SPACE,
    DAGSpace("small", ("a", "b"), max_vertices=5, max_edges=6),
    NB201_SPACE,
    NBGRAPH_SPACE,
    NBGRAPH_PROTEINS_SPACE,
    DARTS_SPACE,
]


def _matrix(cell: Cell) -> np.ndarray:
    n = len(cell.rows)
    return np.array([[row >> j & 1 for j in range(n)] for row in cell.rows], dtype=np.int64)


def _cell(matrix: np.ndarray, ops) -> Cell | None:
    return Cell.from_matrix(matrix, list(ops)).prune()


def _with_op(cell: Cell, v: int, op: int) -> Cell:
    return Cell(cell.rows, (*cell.ops[:v], op, *cell.ops[v + 1 :]))


def _check_dag(space: DAGSpace, cell: Cell, edit, result: Cell) -> None:
    m, ops, n = _matrix(cell), list(cell.ops), len(cell.ops)
    if edit.kind == OP_CHANGE:
        assert 0 < edit.vertex < n - 1 and ops[edit.vertex] != edit.op
        assert result == _with_op(cell, edit.vertex, edit.op)
    elif edit.kind == EDGE_TOGGLE:
        m[edit.vertex, edit.other] ^= 1
        assert result == _cell(m, ops)
    elif edit.kind == INSERT:
        i, j = edit.vertex, edit.other
        assert m[i, j] == 1
        grown = np.insert(np.insert(m, j, 0, axis=0), j, 0, axis=1)  # new vertex at index j; old j is now j + 1
        grown[i, j + 1] = 0
        grown[i, j] = grown[j, j + 1] = 1
        assert result == _cell(grown, [*ops[:j], edit.op, *ops[j:]])
    elif edit.kind == REMOVE:
        v = edit.vertex
        assert 0 < v < n - 1
        remaining = Counter(ops[:v] + ops[v + 1 :])
        assert not Counter(result.ops) - remaining  # no op appears that was not there
        joined = m.copy()
        joined[np.ix_(m[:, v] == 1, m[v] == 1)] = 1
        joined = np.delete(np.delete(joined, v, axis=0), v, axis=1)
        full = _cell(joined, ops[:v] + ops[v + 1 :])
        if full is not None and full.num_edges <= space.max_edges:  # every in-neighbour joined to every out-neighbour
            assert result == full
    else:
        raise AssertionError(f"a DAG space has no {EDIT_KINDS[edit.kind]} edits")


def _check_nb201(cell: Cell, edit, result: Cell) -> None:
    assert edit.kind == OP_CHANGE and cell.ops[edit.vertex] >= 0 and cell.ops[edit.vertex] != edit.op
    assert result == _with_op(cell, edit.vertex, edit.op)


def _check_nbgraph(space, cell: Cell, edit, result: Cell) -> None:
    link, ops = cell_to_arch(cell, len(space.op_names))
    i = edit.vertex
    if edit.kind == OP_CHANGE:
        assert ops[i - 1] != edit.op
        ops = (*ops[: i - 1], edit.op, *ops[i:])
    else:
        assert edit.kind == SOURCE_CHANGE and edit.other < i and link[i - 1] != edit.other
        link = (*link[: i - 1], edit.other, *link[i:])
    assert space.identity(result) == space.identity(arch_to_cell(link, ops))
    assert space.identity(result) != space.identity(cell)


def _check_darts(arch: Arch, edit, result: Arch) -> None:
    c = edit.cell
    assert [result.cells[k] for k in range(2) if k != c] == [arch.cells[k] for k in range(2) if k != c]
    cell = arch.cells[c]
    if edit.kind == OP_CHANGE:
        assert cell.ops[edit.vertex] >= 0 and cell.ops[edit.vertex] != edit.op
        assert result.cells[c] == _with_op(cell, edit.vertex, edit.op)
    else:
        assert edit.kind == SOURCE_CHANGE
        m = _matrix(cell)
        (source,) = np.flatnonzero(m[:, edit.vertex])
        assert source != edit.other and m[edit.other, m[edit.vertex] == 1].sum() == 0  # a new source of the node
        m[source, edit.vertex], m[edit.other, edit.vertex] = 0, 1
        # the node's two edges are re-ordered by source: the same graph up to renumbering the two op vertices
        assert result.cells[c].key == Cell.from_matrix(m, list(cell.ops)).key


def _check(space, cell, edit, result) -> None:
    if isinstance(space, DAGSpace):
        _check_dag(space, cell, edit, result)
    elif space is NB201_SPACE:
        _check_nb201(cell, edit, result)
    elif space is DARTS_SPACE:
        _check_darts(cell, edit, result)
    else:
        _check_nbgraph(space, cell, edit, result)


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_every_edit_does_what_its_layout_entry_says(space):
    layout = space.edit_layout
    assert len(layout) == space.num_edits == len(layout.index)  # every entry distinct
    assert layout.arrays.shape == (space.num_edits, 5)
    rng = np.random.default_rng(8)
    kinds_seen = set()
    for _ in range(25):
        cell = space.sample(rng)
        indices = []
        for index, result in space.edits(cell):
            edit = layout[index]
            assert layout.index[edit] == index
            _check(space, cell, edit, result)
            kinds_seen.add(EDIT_KINDS[edit.kind])
            indices.append(index)
        assert len(indices) == len(set(indices)) > 0
    assert kinds_seen == set(layout.kinds)  # every kind of the layout occurs


def test_layout_entries_name_their_arguments():
    edit = NB101_SPACE.edit_layout[NB101_SPACE.edit_layout.index[INSERT, 0, 0, 3, 1]]
    assert edit.describe(NB101_SPACE.op_names) == "insert(cell=0, vertex=0, other=3, op=conv1x1-bn-relu)"
    assert NB101_SPACE.edit_layout[0] == (OP_CHANGE, 0, 1, NONE, 0)
    assert DARTS_SPACE.edit_layout.num_cells == 2
    reduce_entries = [e for e in DARTS_SPACE.edit_layout.edits if e.cell == 1]
    assert len(reduce_entries) == DARTS_SPACE.num_edits // 2
