"""The DARTS space: multi-input cells, architectures of two cells, its exact size, sampler, edits and formats."""

from __future__ import annotations

import ast
import itertools
import json
from collections import Counter, deque

import numpy as np
import pytest
from scipy import stats

from rlnas.cells import INPUT, INPUT2, OUTPUT, SUM, Arch, Cell, EdgeCell, edges_to_nodes, from_json, nodes_to_edges
from rlnas.errors import InvalidCellError
from rlnas.spaces.darts import (
    DARTS_OPS,
    DARTS_SPACE,
    DARTSSpace,
    _all_wirings,
    _flat_sources,
    _relabellings,
    canonical_pairs,
    count_cells,
    from_config,
    from_genotype,
    from_naslib,
    pairs_to_cell,
    parse_arch,
    to_config,
    to_genotype,
    to_naslib,
)

# DARTS V2 as published in DARTS' genotypes.py (concat written as range(2, 6) there).
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def shared_archs(data_path) -> dict[str, dict]:
    return json.loads((data_path / "nb301" / "naslib_zc_nasbench301.json").read_text())["nasbench301"]["cifar10"]


# ---------------------------------------------------------------- cells with two inputs
def two_input_cell() -> Cell:
    # inputs 0 (INPUT) and 1 (INPUT2); vertex 2 fed by both, vertex 3 by input 1 only, dead end 4
    m = np.zeros((6, 6), dtype=int)
    m[0, 2] = m[1, 2] = m[1, 3] = m[2, 5] = m[3, 5] = m[2, 4] = 1
    return Cell.from_matrix(m, [INPUT, INPUT2, 0, 1, 2, OUTPUT])


def test_two_input_cell_prunes_to_paths_from_either_input_and_keeps_unused_inputs():
    cell = two_input_cell()
    assert cell.num_inputs == 2
    pruned = cell.prune()
    assert pruned.ops == (INPUT, INPUT2, 0, 1, OUTPUT)  # the dead end 4 is gone
    m = np.zeros((4, 4), dtype=int)
    m[1, 2] = m[2, 3] = 1  # input 0 feeds nothing: it stays, without edges
    lonely = Cell.from_matrix(m, [INPUT, INPUT2, 0, OUTPUT])
    assert lonely.prune() is lonely
    m[1, 2] = 0
    assert Cell.from_matrix(m, [INPUT, INPUT2, 0, OUTPUT]).prune() is None


def test_inputs_are_never_permuted_by_the_key_but_other_vertices_are():
    cell = two_input_cell().prune()
    swapped_inputs = Cell(cell.rows, (INPUT2, INPUT, *cell.ops[2:]))
    assert swapped_inputs.key != cell.key
    # vertex 2 (op 0, fed by both inputs) and 3 (op 1, fed by input 1) in the other order: isomorphic
    m = np.zeros((5, 5), dtype=int)
    m[1, 2] = m[0, 3] = m[1, 3] = m[2, 4] = m[3, 4] = 1
    assert Cell.from_matrix(m, [INPUT, INPUT2, 1, 0, OUTPUT]).key == cell.key
    assert Cell.from_matrix(m, [INPUT, INPUT2, 0, 1, OUTPUT]).key != cell.key


def test_single_input_cells_hash_as_before():
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    cell = Cell.from_matrix(m, [INPUT, 0, 1, OUTPUT])
    assert cell.num_inputs == 1
    assert cell.module_hash() == Cell.from_matrix(m, [INPUT, 1, 0, OUTPUT]).module_hash()


@pytest.mark.parametrize(
    ("ops", "message"),
    [([INPUT, 0, INPUT2, OUTPUT], "inputs come first"), ([INPUT2, INPUT, 0, OUTPUT], "first vertex")],
)
def test_malformed_multi_input_cells_are_refused(ops, message):
    m = np.triu(np.ones((4, 4), dtype=int), 1)
    m[0, 1] = m[0, 2] = 0
    with pytest.raises(InvalidCellError, match=message):
        Cell.from_matrix(m, ops)
    m = np.triu(np.ones((4, 4), dtype=int), 1)
    with pytest.raises(InvalidCellError, match="incoming edge"):
        Cell.from_matrix(m, [INPUT, INPUT2, 0, OUTPUT])


def test_two_input_edge_cell_round_trip():
    edge_cell = EdgeCell(5, ((0, 2, 3), (1, 2, 0), (1, 3, 2), (2, 3, 1), (0, 4, 4), (3, 4, 0)), (2, 3, 4), num_inputs=2)
    cell = edges_to_nodes(edge_cell)
    assert cell.ops[:2] == (INPUT, INPUT2) and cell.ops.count(SUM) == 3 and cell.ops[-1] == OUTPUT
    assert nodes_to_edges(cell) == edge_cell
    with pytest.raises(InvalidCellError, match="after the inputs"):
        edges_to_nodes(EdgeCell(3, ((0, 1, 0),), (2,), num_inputs=2))


def test_arch_offers_the_cell_interface_and_json_round_trips():
    a, b = two_input_cell(), pairs_to_cell(((0, 1), (1, 2), (0, 3), (2, 4), (1, 5), (3, 6), (0, 0), (4, 1)))
    arch = Arch((a, b))
    assert arch.rows == (a.rows, b.rows) and arch.ops == (a.ops, b.ops)
    assert arch.num_vertices == a.num_vertices + b.num_vertices and arch.num_edges == a.num_edges + b.num_edges
    assert arch.prune() == Arch((a.prune(), b)) and Arch((b, b)).prune() is not None
    assert arch.key != Arch((b, a)).key and len({arch, Arch((a, b))}) == 1
    assert from_json(json.dumps(arch.to_json())) == arch and from_json(a.to_json()) == a
    broken = Cell.from_matrix([[0, 0, 0], [0, 0, 0], [0, 0, 0]], [INPUT, 0, OUTPUT])
    assert Arch((a, broken)).prune() is None
    with pytest.raises(InvalidCellError):
        from_json({"rows": [1 << 9], "ops": [INPUT, OUTPUT]})


def test_darts_cells_are_the_generic_conversion_of_their_edge_cells():
    rng = np.random.default_rng(2)
    for _ in range(100):
        for pairs in DARTS_SPACE.pairs(DARTS_SPACE.sample_genotype(rng)):
            edges = tuple((src, 2 + e // 2, op) for e, (src, op) in enumerate(pairs))
            edge_cell = EdgeCell(6, edges, (2, 3, 4, 5), num_inputs=2)
            cell = pairs_to_cell(pairs)
            assert cell == edges_to_nodes(edge_cell) and nodes_to_edges(cell) == edge_cell
            assert cell.num_vertices == 15 and cell.prune() is cell
    with pytest.raises(InvalidCellError, match="not a DARTS cell"):
        DARTS_SPACE.validate(Arch((two_input_cell(), cell)))


# ---------------------------------------------------------------- size and identity
def all_cells(num_ops: int):
    for w in _all_wirings():
        for ops in itertools.product(range(num_ops), repeat=8):
            yield tuple(zip(_flat_sources(w), ops, strict=True))


@pytest.mark.parametrize("num_ops", [1, 2])
def test_class_count_matches_brute_force_and_the_graph_key(num_ops):
    genotypes = list(all_cells(num_ops))
    assert len(genotypes) == count_cells(num_ops, canonical=False) == 180 * num_ops**8
    canonical = {canonical_pairs(p) for p in genotypes}
    assert len(canonical) == count_cells(num_ops, canonical=True)
    # an independent check: the ops-on-nodes graph key separates exactly the same classes
    assert len({pairs_to_cell(p).key for p in genotypes}) == len(canonical)


def test_exact_size_of_the_darts_space():
    assert count_cells(canonical=False) == 1_037_664_180 == 180 * 7**8
    assert count_cells(canonical=True) == 382_128_166
    assert DARTS_SPACE.size(canonical=False) == 1_037_664_180**2
    assert DARTS_SPACE.size(canonical=True) == 382_128_166**2


def test_identity_is_invariant_under_renumbering_nodes_and_edge_order():
    rng = np.random.default_rng(1)
    for _ in range(200):
        arch = DARTS_SPACE.sample_genotype(rng)
        normal, reduce = DARTS_SPACE.pairs(arch)
        perms = _relabellings(tuple((normal[2 * i][0], normal[2 * i + 1][0]) for i in range(4)))
        pi = perms[int(rng.integers(len(perms)))]
        moved = [(pi[src], op) for src, op in normal]
        by_node = {pi[n]: moved[2 * i : 2 * i + 2][::-1] for i, n in enumerate((2, 3, 4, 5))}
        renumbered = DARTS_SPACE.arch([p for n in (2, 3, 4, 5) for p in by_node[n]], reduce)
        assert DARTS_SPACE.identity(renumbered) == DARTS_SPACE.identity(arch)
        assert renumbered.key == arch.key
        assert DARTS_SPACE.canonical(renumbered) == DARTS_SPACE.canonical(arch)
    swapped = Arch(arch.cells[::-1])
    assert DARTS_SPACE.identity(swapped) != DARTS_SPACE.identity(arch) or arch.cells[0] == arch.cells[1]


# ---------------------------------------------------------------- sampler
def test_sampler_is_uniform_over_classes_and_the_genotype_sampler_is_not():
    """With one op the classes are the 79 wirings up to renumbering, whose genotype counts differ (1 to 4)."""
    space = DARTSSpace(op_names=DARTS_OPS[:1])
    classes = sorted({canonical_pairs(p) for p in all_cells(1)})
    assert len(classes) == 79
    rng = np.random.default_rng(7)
    n = 79 * 150
    for sampler, uniform in ((space._sample_class, True), (space._sample_pairs, False)):
        counts = Counter(canonical_pairs(sampler(rng)) for _ in range(n))
        p = stats.chisquare([counts[c] for c in classes]).pvalue
        assert (p > 1e-3) if uniform else (p < 1e-12)


def test_sample_is_valid_and_uses_every_op_and_source():
    rng = np.random.default_rng(3)
    archs = [DARTS_SPACE.sample(rng) for _ in range(300)]
    pairs = [p for a in archs for cell in DARTS_SPACE.pairs(a) for p in cell]
    assert {op for _, op in pairs} == set(range(7)) and {src for src, _ in pairs} == set(range(5))
    assert all(DARTS_SPACE.validate(a) is a for a in archs)


# ---------------------------------------------------------------- edits and connectivity
def edge_set(pairs) -> set[tuple[int, int, int]]:
    return {(2 + e // 2, src, op) for e, (src, op) in enumerate(pairs)}


def test_edit_layout_indices_and_results():
    rng = np.random.default_rng(5)
    assert DARTS_SPACE.num_edits == 2 * 8 * (7 + 5)
    for _ in range(50):
        arch = DARTS_SPACE.sample(rng)
        edits = list(DARTS_SPACE.edits(arch))
        indices = [i for i, _ in edits]
        # 16 edges x 6 other ops; per cell, sources: node 3 has 1 free source per edge, node 4 two, node 5 three
        assert len(edits) == 16 * 6 + 2 * (2 * 1 + 2 * 2 + 2 * 3) == 120
        assert len(set(indices)) == len(indices) and all(0 <= i < DARTS_SPACE.num_edits for i in indices)
        before = [edge_set(p) for p in DARTS_SPACE.pairs(arch)]
        for index, result in edits:
            after = [edge_set(p) for p in DARTS_SPACE.pairs(DARTS_SPACE.validate(result))]
            c = index // (DARTS_SPACE.num_edits // 2)
            assert after[1 - c] == before[1 - c] and len(after[c] - before[c]) == 1
    neighbours = DARTS_SPACE.neighbours(arch)
    idents = {DARTS_SPACE.identity(n) for n in neighbours}
    assert len(idents) == len(neighbours) and DARTS_SPACE.identity(arch) not in idents
    assert DARTS_SPACE.mutate(arch, rng) in neighbours


def bfs(space: DARTSSpace, start: Arch, cell_types: int) -> int:
    half = space.num_edits // 2
    seen, queue = {space.identity(start)}, deque([start])
    while queue:
        for index, result in space.edits(queue.popleft()):
            ident = space.identity(result)
            if index < half * cell_types and ident not in seen:
                seen.add(ident)
                queue.append(result)
    return len(seen)


def test_neighbourhood_connects_the_wirings_of_both_cells():
    """BFS over all 79 x 79 one-op architectures (classes) from a random one reaches every one.

    Why that extends to the full space: op changes alone reach every op assignment of a fixed
    wiring, so the wirings are the only part that needs a path, and they do not depend on the
    op set; edits change one cell at a time, so the classes of the product are reached cell by
    cell (the BFS over both cells checks that product too). The slow test adds a second op.
    """
    space = DARTSSpace(op_names=DARTS_OPS[:1])
    assert bfs(space, space.sample(np.random.default_rng(0)), cell_types=2) == space.size() == 79**2


@pytest.mark.slow
def test_neighbourhood_connects_the_two_op_quotient_of_one_cell():
    space = DARTSSpace(op_names=DARTS_OPS[:2])
    assert bfs(space, space.sample(np.random.default_rng(0)), cell_types=1) == count_cells(2) == 17_531


# ---------------------------------------------------------------- formats
def test_all_500_shared_architectures_round_trip_through_every_format(data_path):
    for key in shared_archs(data_path):
        arch = from_naslib(key)
        assert from_genotype(to_genotype(arch)) == arch
        assert from_naslib(to_naslib(arch)) == arch
        assert from_config(to_config(arch)) == arch
        assert parse_arch(json.dumps(to_config(arch))) == arch and parse_arch(to_genotype(arch)) == arch
        assert from_json(arch.to_json()) == arch
        # the emitted NASLib string is the file's key with each node's two edges ordered by source
        original = ast.literal_eval(key)
        assert ast.literal_eval(to_naslib(arch)) == [
            [p for i in range(0, 8, 2) for p in sorted(cell[i : i + 2])] for cell in original
        ]


def test_op_order_of_the_shared_file_is_confirmed_by_its_parameter_counts(data_path):
    """Parameters are linear in the op counts; the coefficients identify the ops (NB301: C=32, 8 cells).

    Per op, the parameters (no batch-norm affine terms) summed over the normal cells (C = 32, 32, 64,
    64, 128, 128) or reduction cells (C = 64, 128): sep_conv_k 2C^2 + 2k^2 C, dil_conv_k C^2 + k^2 C,
    pools and skip 0, except that skip_connect on a stride-2 edge (from an input of a reduction cell)
    is a FactorizedReduce with C^2. This pins indices 2..6 and shows 0 and 1 are the two pools;
    their order (max first) is the one of NASLib's and NB301's op lists.
    """
    table = shared_archs(data_path)
    features, params = [], []
    for key, row in table.items():
        f = np.zeros((2, 7, 2))
        for c, cell in enumerate(ast.literal_eval(key)):
            for src, op in cell:
                f[c, op, int(src < 2)] += 1
        features.append(f.ravel())
        params.append(row["params"] * 1e6)
    x = np.c_[np.array(features), np.ones(len(features))]
    coef, *_ = np.linalg.lstsq(x, np.array(params), rcond=None)
    assert np.abs(x @ coef - params).max() < 1e-3
    coef = coef[:-1].reshape(2, 7, 2)
    coef -= coef[:, :1, :1]  # relative to max_pool_3x3 from an intermediate node
    for c, channels in enumerate(([32, 32, 64, 64, 128, 128], [64, 128])):
        sq, lin = sum(ch * ch for ch in channels), sum(channels)
        expected = {0: 0, 1: 0, 2: 0, 3: 2 * sq + 18 * lin, 4: 2 * sq + 50 * lin, 5: sq + 9 * lin, 6: sq + 25 * lin}
        for op, value in expected.items():
            from_input = value + (sq if c == 1 and DARTS_OPS[op] == "skip_connect" else 0)
            assert coef[c, op, 0] == pytest.approx(value, abs=0.5)
            assert coef[c, op, 1] == pytest.approx(from_input, abs=0.5)


def test_published_genotype_parses_and_prints_in_every_form():
    arch = from_genotype(DARTS_V2)
    assert to_genotype(arch).startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)")
    assert to_naslib(arch).startswith("[[(0, 3), (1, 3), (0, 3), (1, 3), (0, 2), (1, 3), (0, 2), (2, 5)]")
    config = to_config(arch)
    assert config["NetworkSelectorDatasetInfo:darts:inputs_node_normal_5"] == "0_2"
    assert config["NetworkSelectorDatasetInfo:darts:edge_normal_11"] == "dil_conv_3x3"  # node 5 from 2: 9 + 2
    assert config["NetworkSelectorDatasetInfo:darts:edge_reduce_4"] == "skip_connect"  # node 3 from 2: 2 + 2
    assert len(config) == 2 * (8 + 3)
    assert DARTS_SPACE.describe(arch)["config"] == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            DARTS_V2.replace("('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", "('sep_conv_3x3', 1), ('sep_conv_3x3', 1)"),
            "two sources",
        ),
        (DARTS_V2.replace("normal_concat=range(2, 6)", "normal_concat=[2, 3]"), "concatenates all four"),
        (DARTS_V2.replace("dil_conv_3x3", "conv_7x7"), "op name"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "sources are nodes 0..4"),
        ("Genotype(normal=[])", "exactly the fields"),
        ("__import__('os')", "Genotype"),
        ("[[(0, 1)], [(0, 1)]]", "8 \\(source, op\\) pairs"),
        ('{"NetworkSelectorDatasetInfo:darts:edge_normal_0": "max_pool_3x3"}', "edge_normal_1"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_architectures_are_one_line_errors(text, message):
    with pytest.raises(InvalidCellError, match=message) as info:
        parse_arch(text)
    assert "\n" not in str(info.value)


def test_config_with_an_edge_from_an_unselected_source_is_refused():
    config = to_config(from_genotype(DARTS_V2))
    config["NetworkSelectorDatasetInfo:darts:edge_normal_13"] = "skip_connect"  # node 5 from 4, not in '0_2'
    with pytest.raises(InvalidCellError, match="edge_normal_13"):
        from_config(config)
    assert from_config({**to_config(from_genotype(DARTS_V2)), "OptimizerSelector:optimizer": "sgd"}) == from_genotype(
        DARTS_V2
    )
