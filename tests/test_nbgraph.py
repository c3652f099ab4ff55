"""NAS-Bench-Graph: the space against the package's own tables and canonicalisation, on the real data."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from nas_bench_graph import light_read
from nas_bench_graph.architecture import Arch

from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.nbgraph import DATASETS
from rlnas.cells import Cell
from rlnas.errors import InvalidCellError
from rlnas.spaces import NBGRAPH_PROTEINS_SPACE, NBGRAPH_SPACE
from rlnas.spaces.nbgraph import arch_to_cell, cell_to_arch
from tests.test_cells import relabel


@pytest.fixture(scope="module")
def cora():
    return load_benchmark("nbgraph-cora")


@pytest.mark.parametrize(("space", "dataset"), [(NBGRAPH_SPACE, "cora"), (NBGRAPH_PROTEINS_SPACE, "proteins")])
def test_every_table_entry_is_one_distinct_cell(space, dataset):
    table = light_read(dataset)
    keys = space.table_keys()
    assert keys.tolist() == sorted(table) and len(keys) == {"cora": 26_206, "proteins": 2_021}[dataset]
    cells = [space.cell_of_class(i) for i in range(len(keys))]
    assert len({cell.key for cell in cells}) == len(keys)  # distinct even up to isomorphism
    for cell, key in zip(cells, keys.tolist(), strict=True):
        link, ops = cell_to_arch(cell, len(space.op_names))
        assert arch_to_cell(link, ops) == cell  # lossless
        assert Arch(list(link), [space.op_names[o] for o in ops]).valid_hash() == key  # the package's own look-up
        assert space.identity(cell) == key and space.validate(cell) == cell


def test_equivalent_forms_are_one_architecture(cora):
    # The same network (gcn feeding gin -> fc and cheb) with its nodes listed in another order. (The
    # package README's second form, link [0, 1, 1, 2], is fc after cheb: another network, another key.)
    a = NBGRAPH_SPACE.from_text('{"link": [0, 1, 2, 1], "ops": ["gcn", "gin", "fc", "cheb"]}')
    b = NBGRAPH_SPACE.from_text('{"link": [0, 1, 1, 3], "ops": ["gcn", "cheb", "gin", "fc"]}')
    readme = NBGRAPH_SPACE.from_text('{"link": [0, 1, 1, 2], "ops": ["gcn", "cheb", "gin", "fc"]}')
    assert a == b != readme
    table = light_read("cora")
    result = cora.evaluate(a)
    key = Arch([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]).valid_hash()
    assert result.hash == str(key) and result.score == table[key]["valid_perf"]
    assert result.metrics["test_accuracy"] == table[key]["perf"]
    # A form the package folds by its skip rule (a skip leaf reading the input) is that class's cell.
    skip_leaf = arch_to_cell((0, 0, 1, 3), (1, 8, 6, 1))  # gcn, skip, graph, gcn
    assert cora.identity(skip_leaf) == Arch([0, 0, 1, 3], ["gcn", "skip", "graph", "gcn"]).valid_hash()
    assert NBGRAPH_SPACE.validate(skip_leaf) != skip_leaf
    # Vertices renumbered in another topological order: the same architecture.
    relabelled = relabel(a, np.random.default_rng(3))
    assert cora.identity(relabelled) == cora.identity(a) and cora.evaluate(relabelled) == result


def test_cells_outside_the_space_are_refused():
    with pytest.raises(InvalidCellError, match="every node is skip"):
        NBGRAPH_SPACE.validate(arch_to_cell((0, 1, 2, 3), (8, 8, 8, 8)))
    with pytest.raises(InvalidCellError, match="reads 2 nodes"):
        NBGRAPH_SPACE.validate(Cell((0b110, 0b1000, 0b1000, 0b10000, 0b100000, 0), (-1, 1, 1, 1, 1, -2)))
    with pytest.raises(InvalidCellError, match="op label 5"):
        NBGRAPH_PROTEINS_SPACE.validate(arch_to_cell((0, 1, 2, 3), (0, 5, 1, 1)))
    with pytest.raises(InvalidCellError, match="unknown op 'gat'"):
        NBGRAPH_PROTEINS_SPACE.from_text('{"link": [0, 1, 2, 3], "ops": ["gat", "gcn", "gcn", "gcn"]}')
    with pytest.raises(InvalidCellError, match="reads an earlier node"):
        NBGRAPH_SPACE.from_text('{"link": [0, 2, 1, 1], "ops": ["gcn", "gcn", "gcn", "gcn"]}')
    with pytest.raises(InvalidCellError, match="archs are JSON"):
        NBGRAPH_SPACE.from_text("[0, 1, 2, 3]")


def test_edit_layout_is_fixed_and_every_edit_changes_the_architecture():
    space, rng = NBGRAPH_SPACE, np.random.default_rng(0)
    num_ops = len(space.op_names)
    assert space.num_edits == 4 * num_ops + 10
    for _ in range(200):
        cell = space.sample(rng)
        edits = list(space.edits(cell))
        indices = [index for index, _ in edits]
        assert len(set(indices)) == len(indices) and all(0 <= i < space.num_edits for i in indices)
        assert all(space.identity(result) != space.identity(cell) for _, result in edits)
        link, ops = cell_to_arch(cell, num_ops)
        for index, result in edits:
            if index < 4 * num_ops:  # op change (node, op): the changed form's class
                node, op = divmod(index, num_ops)
                changed = arch_to_cell(link, (*ops[:node], op, *ops[node + 1 :]))
            else:  # input change (node i reads j)
                pair = index - 4 * num_ops
                i = next(i for i in range(1, 5) if i * (i - 1) // 2 <= pair < i * (i + 1) // 2)
                changed = arch_to_cell((*link[: i - 1], pair - i * (i - 1) // 2, *link[i:]), ops)
            assert space.validate(changed) == result
        neighbours = space.neighbours(cell)
        assert len({space.identity(n) for n in neighbours}) == len(neighbours) == len({r for _, r in edits})


def _reachable(space) -> int:
    start = space.cell_of_class(0)
    seen, frontier = {space.identity(start)}, [start]
    while frontier:
        found = {space.identity(n): n for cell in frontier for n in space.neighbours(cell)}
        frontier = [n for identity, n in found.items() if identity not in seen]
        seen.update(found)
    return len(seen)


def test_neighbourhood_connects_the_proteins_space():
    assert _reachable(NBGRAPH_PROTEINS_SPACE) == NBGRAPH_PROTEINS_SPACE.num_cells == 2_021


@pytest.mark.slow
def test_neighbourhood_connects_the_full_space():
    assert _reachable(NBGRAPH_SPACE) == NBGRAPH_SPACE.num_cells == 26_206


def test_sampler_is_uniform_over_architectures():
    space, rng = NBGRAPH_PROTEINS_SPACE, np.random.default_rng(1)
    draws = 60_000
    counts = np.bincount([space.class_index(space.sample(rng)) for _ in range(draws)], minlength=space.num_cells)
    expected = draws / space.num_cells
    chi2_per_dof = ((counts - expected) ** 2 / expected).sum() / (space.num_cells - 1)
    assert 0.9 < chi2_per_dof < 1.1  # a uniform draw; the forms are far from uniform over classes
    forms_per_class = np.bincount(
        [
            space.class_index(arch_to_cell(link, ops))
            for link in itertools.product(range(1), range(2), range(3), range(4))
            for ops in itertools.product(range(5), repeat=4)
            if ops != (4, 4, 4, 4)
        ]
    )
    assert forms_per_class.max() > 10 * forms_per_class.min()


def test_text_form_round_trip_and_describe():
    rng = np.random.default_rng(2)
    for space in (NBGRAPH_SPACE, NBGRAPH_PROTEINS_SPACE):
        for _ in range(50):
            cell = space.sample(rng)
            assert space.from_text(space.to_text(cell)) == cell
            described = space.describe(cell)
            assert space.to_text(cell) == space.to_text(space.from_text(str(described).replace("'", '"')))


def test_all_datasets_load_with_validation_for_search_and_test_reported(cora):
    assert cora.metric == "validation_accuracy" and len(cora.all_scores()) == 26_206
    table = light_read("cora")
    assert cora.best_possible == max(v["valid_perf"] for v in table.values())
    for dataset in DATASETS:
        bench = load_benchmark(f"nbgraph-{dataset}")
        kind = "roc_auc" if dataset == "proteins" else "accuracy"
        assert bench.metric == f"validation_{kind}" and 0 < bench.best_possible <= 1
        result = bench.evaluate(bench.space.sample(np.random.default_rng(0)))
        assert set(result.metrics) == {f"validation_{kind}", f"test_{kind}", "latency", "parameters"}
        assert result.score == result.metrics[bench.metric]
