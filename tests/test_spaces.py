from __future__ import annotations

from collections import Counter, deque

import numpy as np

from rlnas.benchmarks.nb101 import table_cells
from rlnas.experiments.sampler_check import draw_counts, table_counts, total_variation
from rlnas.spaces import NB101_SPACE, NB201_SPACE, DAGSpace
from rlnas.spaces.strata import stratified_sampler
from tests.conftest import make_cell

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
    for stratum in stratified_sampler(NB101_SPACE).strata:
        per_vertex_count[stratum.num_vertices] += stratum.num_classes
    assert [per_vertex_count[v] for v in range(2, 8)] == [1, 6, 84, 2441, 62010, 359082]


def test_stratum_distribution_equals_the_table_histogram(nb101):
    table = Counter(map(tuple, table_counts(nb101.table).tolist()))
    expected = {k: v / len(nb101.table) for k, v in table.items()}
    joint = stratified_sampler(NB101_SPACE).joint_distribution()
    assert joint.keys() == expected.keys()
    assert all(abs(joint[k] - expected[k]) < 1e-12 for k in joint)


def test_matched_sampler_is_close_to_uniform_and_rejection_sampler_is_not(nb101):
    uniform = table_counts(nb101.table)
    matched = draw_counts(NB101_SPACE.sample, 100_000, np.random.default_rng(0))
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
