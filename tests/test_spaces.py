from __future__ import annotations

import itertools
from collections import Counter, deque

import numpy as np
import pytest

from rlnas.benchmarks.nb101 import table_cells
from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.errors import ConfigError
from rlnas.experiments.sampler_check import draw_counts, table_counts, total_variation
from rlnas.spaces import NB101_SPACE, NB201_SPACE, DAGSpace
from rlnas.spaces.dag import canonical_form
from rlnas.spaces.strata import count_classes, stratified_sampler
from tests.conftest import make_cell
from tests.test_strata import _valid_matrices, brute_force_form

CHAIN = make_cell([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 1])


def test_every_neighbour_is_pruned_valid_distinct_and_not_the_cell():
    rng = np.random.default_rng(0)
    for _ in range(200):
        cell = NB101_SPACE.sample(rng)
        neighbours = NB101_SPACE.neighbours(cell)
        keys = [n.key for n in neighbours]
        assert len(set(keys)) == len(keys) and cell.key not in keys
        for n in neighbours:
            assert NB101_SPACE.validate(n) == n


def test_edit_indices_fit_the_layout_and_are_unique():
    rng = np.random.default_rng(1)
    for space in (NB101_SPACE, NB201_SPACE):
        for _ in range(50):
            indices = [i for i, _ in space.edits(space.sample(rng))]
            assert len(indices) == len(set(indices))
            assert all(0 <= i < space.num_edits for i in indices)


def test_op_change_edge_toggle_and_insertion_on_a_chain():
    edits = dict(NB101_SPACE.edits(CHAIN))
    assert edits[0 * 3 + 2] == make_cell([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [2, 1])
    toggle_base = 5 * 3
    pair_03 = NB101_SPACE._pair_index[0, 3]
    assert edits[toggle_base + pair_03] == make_cell([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 1])
    insert_base = toggle_base + 21
    split_12 = edits[insert_base + NB101_SPACE._pair_index[1, 2] * 3 + 2]  # 1 -> 2 becomes 1 -> new -> 2
    assert split_12 == make_cell(
        [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [0, 2, 1]
    )
    # removing the chain edge 1 -> 2 disconnects everything: that edit is invalid and absent
    assert toggle_base + NB101_SPACE._pair_index[1, 2] not in edits


def test_vertex_removal_regenerates_edges_from_in_to_out_neighbours():
    # 0 -> 1 -> {2, 3} -> 4 ; removing 1 joins 0 to 2 and 3
    cell = make_cell([[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [0, 1, 2])
    remove_base = 5 * 3 + 21 + 21 * 3
    assert dict(NB101_SPACE.edits(cell))[remove_base + 0] == make_cell(
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [1, 2]
    )


def test_vertex_removal_keeps_a_minimal_selection_when_all_edges_break_the_limit():
    small = DAGSpace("tiny", ("a", "b", "c"), max_vertices=7, max_edges=6)
    # 0 -> {1, 2} -> 3 -> {4, 5} -> 6: removing 3 would need 4 regenerated edges (7 in all)
    cell = make_cell(
        [
            [0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        [0, 0, 1, 2, 2],
    )
    removed = small._remove_vertex(cell.rows, cell.ops, 3)
    assert removed is not None and removed.num_edges == 6  # 1 -> 3', 2 -> 4' paired, not all four
    assert removed == make_cell(
        [
            [0, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 1, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0],
        ],
        [0, 0, 2, 2],
    )


def test_stratum_counts_reproduce_the_published_nb101_sizes_without_the_table():
    per_vertex_count = Counter()
    for (vertices, _), count in stratified_sampler(NB101_SPACE).counts.items():
        per_vertex_count[vertices] += count
    assert [per_vertex_count[v] for v in range(2, 8)] == [1, 6, 84, 2441, 62010, 359082]


def test_stratum_distribution_equals_the_table_histogram(nb101):
    table = Counter(map(tuple, table_counts(nb101.table).tolist()))
    expected = {k: v / len(nb101.table) for k, v in table.items()}
    joint = stratified_sampler(NB101_SPACE).joint_distribution()
    assert joint.keys() == expected.keys()
    assert all(abs(joint[k] - expected[k]) < 1e-12 for k in joint)


def test_matched_sampler_is_close_to_uniform_and_rejection_sampler_is_not(nb101):
    uniform = table_counts(nb101.table)
    matched = draw_counts(NB101_SPACE.sample, 20_000, np.random.default_rng(0))  # noise TV: 0.005, 0.012 at p=0.999
    rejection = draw_counts(NB101_SPACE.sample_rejection, 20_000, np.random.default_rng(0))
    assert total_variation(matched, uniform) <= 0.02
    assert total_variation(rejection, uniform) > 0.1


def test_samplers_are_deterministic_and_valid():
    for sample in (NB101_SPACE.sample, NB101_SPACE.sample_rejection, NB201_SPACE.sample):
        a = [sample(np.random.default_rng(7)) for _ in range(3)]
        b = [sample(np.random.default_rng(7)) for _ in range(3)]
        assert a == b
    rng = np.random.default_rng(3)
    for _ in range(500):
        cell = NB101_SPACE.sample(rng)
        assert NB101_SPACE.validate(cell) == cell


def test_nb201_neighbours_are_the_24_op_changes():
    cell = NB201_SPACE.sample(np.random.default_rng(0))
    neighbours = NB201_SPACE.neighbours(cell)
    assert len(neighbours) == 24 and len({n.key for n in neighbours}) == 24
    assert all(sum(a != b for a, b in zip(n.ops, cell.ops, strict=True)) == 1 for n in neighbours)


@pytest.mark.slow
def test_the_neighbour_graph_connects_all_of_nb101(nb101):
    """Breadth-first search over neighbours from one cell reaches every one of the 423,624 cells."""
    start = table_cells(nb101.table)[0]
    seen = {start.key}
    frontier = deque([start])
    while frontier:
        for neighbour in NB101_SPACE.neighbours(frontier.popleft()):
            if neighbour.key not in seen:
                seen.add(neighbour.key)
                frontier.append(neighbour)
    assert len(seen) == len(nb101.table) == 423_624
    assert all(nb101.row_of(table_cells(nb101.table)[i]) == i for i in (0, 1000, 423_623))


def _relabelled(cell: Cell, rng: np.random.Generator) -> Cell:
    """The same cell in another topological order (a random ready vertex first each time)."""
    n = cell.num_vertices
    indegree = [int(cell.matrix[:, v].sum()) for v in range(n)]
    order, ready = [], [0]
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in range(n):
            if cell.rows[v] >> w & 1:
                indegree[w] -= 1
                if indegree[w] == 0:
                    ready.append(w)
    position = {v: i for i, v in enumerate(order)}
    rows = tuple(sum(1 << position[w] for w in range(n) if cell.rows[v] >> w & 1) for v in order)
    return Cell(rows, tuple(cell.ops[v] for v in order))


def test_canonical_form_separates_exactly_the_classes_of_every_small_cell():
    """Every labelled cell of up to 5 vertices and 2 ops: canonical forms group them as brute force does."""
    groups: dict[tuple, set] = {}
    for n in range(2, 6):
        for matrix in _valid_matrices(n, 10):
            for ops in itertools.product(range(2), repeat=n - 2):
                cell = Cell(matrix.rows, (INPUT, *ops, OUTPUT))
                groups.setdefault(brute_force_form(cell), set()).add(canonical_form(cell))
    assert all(len(forms) == 1 for forms in groups.values())
    assert len({next(iter(forms)) for forms in groups.values()}) == len(groups) == count_classes(2, 5, 10).num_cells


def test_identity_of_a_large_space_is_exact_on_sampled_and_relabelled_cells():
    space = DAGSpace("custom", ("a", "b", "c", "d", "e"), max_vertices=8, max_edges=12)
    assert not space.key_is_exact
    rng = np.random.default_rng(0)
    cells = [space.sample(rng) for _ in range(60)]
    cells += [_relabelled(c, rng) for c in cells]
    by_identity = {}
    for c in cells:
        by_identity.setdefault(space.identity(c), set()).add(brute_force_form(c))
    assert all(len(forms) == 1 for forms in by_identity.values())
    assert len(by_identity) == len({brute_force_form(c) for c in cells})
    # the most symmetric cell: 7 parallel vertices with one op, each relabelling the same
    fan = Cell((0b11111110, *(0b100000000,) * 7, 0), (INPUT, *(2,) * 7, OUTPUT))
    assert DAGSpace("nine", ("a", "b", "c"), 9, 14).identity(fan) == canonical_form(_relabelled(fan, rng))


def test_neighbours_of_a_large_space_are_distinct_by_the_exact_identity():
    space = DAGSpace("custom", ("a", "b", "c", "d", "e"), max_vertices=9, max_edges=12)
    rng = np.random.default_rng(4)
    for _ in range(20):
        cell = space.sample(rng)
        forms = [canonical_form(n) for n in space.neighbours(cell)]
        assert len(set(forms)) == len(forms) and canonical_form(cell) not in forms
        assert set(forms) == {canonical_form(c) for _, c in space.edits(cell)} - {canonical_form(cell)}


def test_identity_is_the_key_within_nb101_limits():
    rng = np.random.default_rng(0)
    assert NB101_SPACE.key_is_exact and DAGSpace("two", ("a", "b"), 6, 8).key_is_exact
    cell = NB101_SPACE.sample(rng)
    assert NB101_SPACE.identity(cell) == cell.key
    cell = NB201_SPACE.sample(rng)
    assert NB201_SPACE.identity(cell) == cell.key


def test_a_space_without_ops_vertices_or_edges_is_a_one_line_error():
    with pytest.raises(ConfigError, match="at least 1 op, 2 vertices and 1 edge"):
        DAGSpace("empty", (), 7, 9)
    with pytest.raises(ConfigError, match="at least 1 op, 2 vertices and 1 edge"):
        DAGSpace("tiny", ("a",), 1, 9)
