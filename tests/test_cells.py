from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlnas.benchmarks.nb101 import table_cells
from rlnas.cells import INPUT, INPUT2, OUTPUT, Cell
from rlnas.cells.encoding import OPS_START, SPECIAL_TOKENS, encode_padded
from rlnas.errors import InvalidCellError
from rlnas.spaces import NB101_SPACE
from tests.conftest import make_cell


def test_from_matrix_round_trips_the_matrix():
    m = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    cell = make_cell(m, [2])
    assert cell.matrix.tolist() == m
    assert cell.num_vertices == 3 and cell.num_edges == 3


@pytest.mark.parametrize(
    ("matrix", "ops", "message"),
    [
        ([[0, 1], [1, 0]], [INPUT, OUTPUT], "upper-triangular"),
        ([[0, 1, 0], [0, 0, 1]], [INPUT, 0, OUTPUT], "square"),
        ([[0, 2], [0, 0]], [INPUT, OUTPUT], "only 0 and 1"),
        ([[0, 1], [0, 0]], [INPUT, 0, OUTPUT], "one op per vertex"),
        ([[0, 1], [0, 0]], [0, OUTPUT], "input"),
    ],
)
def test_from_matrix_rejects_malformed_cells(matrix, ops, message):
    with pytest.raises(InvalidCellError, match=message):
        Cell.from_matrix(matrix, ops)


def test_prune_drops_vertices_off_every_input_output_path():
    # vertex 1 is a dead end (no way to the output), vertex 2 is unreachable from the input
    m = [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    pruned = make_cell(m, [0, 1]).prune()
    assert pruned == make_cell([[0, 1], [0, 0]], [])


def test_prune_returns_none_without_a_path_and_self_when_nothing_to_drop():
    assert make_cell([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [0]).prune() is None
    cell = make_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [0])
    assert cell.prune() is cell


def test_module_hash_of_known_nb101_cells(nb101):
    for row in (0, int(np.argmax(nb101.all_scores())), len(nb101.table) - 1):
        cell = table_cells_of(nb101, row)
        assert cell.module_hash() == nb101.table.hashes[row].decode()
    assert nb101.table.hashes[0].decode() == "00005c142e6f48ac74fdcf73e3439874"


def table_cells_of(benchmark, row):
    v = int(benchmark.table.num_vertices[row])
    return Cell.from_matrix(benchmark.table.adj[row, :v, :v], benchmark.table.ops[row, :v])


def _hash_chunk(args):
    rows_ops, expected = args
    return sum(Cell(r, o).module_hash() != h for (r, o), h in zip(rows_ops, expected, strict=True))


@pytest.mark.slow
def test_every_nb101_hash_is_reproduced_and_every_key_is_distinct(nb101):
    """The full check: all 423,624 official module hashes from the cells alone (about a minute)."""
    cells = table_cells(nb101.table)
    expected = [h.decode() for h in nb101.table.hashes]
    chunks = [
        ([(c.rows, c.ops) for c in cells[i : i + 20_000]], expected[i : i + 20_000])
        for i in range(0, len(cells), 20_000)
    ]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        mismatches = sum(pool.map(_hash_chunk, chunks))
    assert mismatches == 0
    assert len({c.key for c in cells}) == len(cells) == 423_624


@st.composite
def valid_cells(draw):
    n = draw(st.integers(2, 7))
    upper = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(upper), unique=True, min_size=1))
    m = np.zeros((n, n), dtype=int)
    for i, j in edges:
        m[i, j] = 1
    m[0, n - 1] = 1
    ops = [INPUT, *draw(st.lists(st.integers(0, 2), min_size=n - 2, max_size=n - 2)), OUTPUT]
    return Cell.from_matrix(m, ops).prune()


def relabel(cell: Cell, rng: np.random.Generator) -> Cell:
    """The same cell under a random topological order of its vertices."""
    m = cell.matrix
    n = len(m)
    order, indegree = [], m.sum(axis=0).astype(int)
    ready = [0]
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in np.flatnonzero(m[v]):
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(int(w))
    assert len(order) == n and order[-1] == n - 1
    return Cell.from_matrix(m[np.ix_(order, order)], [cell.ops[v] for v in order])


@settings(max_examples=200, deadline=None)
@given(valid_cells(), st.integers(0, 2**32 - 1))
def test_key_and_module_hash_are_isomorphism_invariant(cell, seed):
    other = relabel(cell, np.random.default_rng(seed))
    assert other.key == cell.key
    assert other.module_hash() == cell.module_hash()


def test_key_separates_cells_that_differ_in_one_op_or_edge():
    cell = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 1])
    assert make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 0]).key != cell.key
    assert make_cell([[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 1]).key != cell.key
    assert NB101_SPACE.validate(cell) is cell


def test_encoding_gives_the_second_input_its_own_token_and_refuses_a_vocabulary_without_one():
    """DARTS cells have two inputs: the second must not share op 0's token (it did, in the GIN predictor)."""
    two_inputs = Cell(ops=(INPUT, INPUT2, 0, OUTPUT), rows=(0b0100, 0b0100, 0b1000, 0))
    tokens, adjacency, mask = encode_padded(two_inputs, 6)
    assert list(tokens) == [SPECIAL_TOKENS[INPUT], SPECIAL_TOKENS[INPUT2], OPS_START, SPECIAL_TOKENS[OUTPUT], 0, 0]
    assert len(set(tokens[:4])) == 4 and list(mask) == [1, 1, 1, 1, 0, 0]
    assert adjacency[0, 2] == adjacency[1, 2] == adjacency[2, 3] == 1 and adjacency.sum() == 3
    with pytest.raises(InvalidCellError, match="second input"):
        encode_padded(two_inputs, 6, op_offset=OPS_START - 1)
