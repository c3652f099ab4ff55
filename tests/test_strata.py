"""The uniform sampler of DAG spaces against brute force: exact counts, the disk cache, and draws."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from functools import cache

import numpy as np
import pytest

from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.errors import ConfigError
from rlnas.spaces import DAGSpace
from rlnas.spaces.strata import (
    FixedDags,
    _bipartite,
    _LayerEdges,
    _sampler,
    cache_path,
    count_classes,
    cycle_types,
    stratified_sampler,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Counts are cached in a fresh folder per test, never in the user's cache."""
    monkeypatch.setenv("RLNAS_CACHE", str(tmp_path / "cache"))
    _sampler.cache_clear()
    yield
    _sampler.cache_clear()


# ------------------------------------------------------------------ brute force, written independently


def _valid_matrices(n: int, max_edges: int) -> list[Cell]:
    """Every upper-triangular matrix on n vertices that keeps all its vertices after pruning."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    out = []
    for chosen in itertools.product((0, 1), repeat=len(pairs)):
        if sum(chosen) > max_edges:
            continue
        rows = [0] * n
        for bit, (i, j) in zip(chosen, pairs, strict=True):
            rows[i] |= bit << j
        cell = Cell(tuple(rows), (INPUT, *(0,) * (n - 2), OUTPUT))
        if cell.prune() is cell:
            out.append(cell)
    return out


def _edge_set(cell: Cell) -> frozenset[tuple[int, int]]:
    return frozenset((i, j) for i, row in enumerate(cell.rows) for j in range(len(cell.rows)) if row >> j & 1)


def _relabellings(n: int) -> list[dict[int, int]]:
    """Every permutation of the interior vertices 1..n-2 (input and output stay)."""
    return [
        {0: 0, n - 1: n - 1} | dict(zip(range(1, n - 1), p, strict=True))
        for p in itertools.permutations(range(1, n - 1))
    ]


def brute_force_classes(num_ops: int, max_vertices: int, max_edges: int) -> dict[tuple[int, int], set]:
    """Unique cells per (vertices, edges): every labelled form, deduplicated by the minimum over all
    interior relabellings of (sorted edges, ops)."""
    classes: dict[tuple[int, int], set] = {}
    for n in range(2, max_vertices + 1):
        perms = _relabellings(n)
        for cell in _valid_matrices(n, max_edges):
            images = [tuple(sorted((p[i], p[j]) for i, j in _edge_set(cell))) for p in perms]
            for ops in itertools.product(range(num_ops), repeat=n - 2):
                labels = (INPUT, *ops, OUTPUT)
                forms = []
                for p, edges in zip(perms, images, strict=True):
                    relabelled = [0] * n
                    for v in range(n):
                        relabelled[p[v]] = labels[v]
                    forms.append((edges, tuple(relabelled)))
                classes.setdefault((n, cell.num_edges), set()).add(min(forms))
    return classes


def brute_force_form(cell: Cell) -> tuple:
    """The brute-force canonical form of one cell (as in `brute_force_classes`)."""
    return _brute_force_form(cell.rows, cell.ops)


@cache
def _brute_force_form(rows: tuple[int, ...], ops: tuple[int, ...]) -> tuple:
    cell = Cell(rows, ops)
    n, forms = cell.num_vertices, []
    for p in _relabellings(n):
        labels = [0] * n
        for v in range(n):
            labels[p[v]] = cell.ops[v]
        forms.append((tuple(sorted((p[i], p[j]) for i, j in _edge_set(cell))), tuple(labels)))
    return min(forms)


# ------------------------------------------------------------------ counting


@pytest.mark.parametrize("n", [2, 3, 4, 5, pytest.param(6, marks=pytest.mark.slow)])
def test_fixed_dag_counts_equal_brute_force_for_every_permutation(n):
    """Burnside's terms: the labelled valid DAGs (any vertex order) that each interior permutation fixes."""
    labelled = {
        frozenset((p[i], p[j]) for i, j in _edge_set(cell))
        for cell in _valid_matrices(n, n * (n - 1) // 2)
        for p in _relabellings(n)
    }
    degree = n * (n - 1) // 2
    for p in _relabellings(n):
        fixed = Counter(len(g) for g in labelled if {(p[i], p[j]) for i, j in g} == g)
        cycles = _cycle_type(p, n)
        assert FixedDags(cycles, degree).fixed == tuple(fixed[e] for e in range(degree + 1)), (n, cycles)


def _cycle_type(p: dict[int, int], n: int) -> tuple[int, ...]:
    seen, lengths = set(), []
    for start in range(1, n - 1):
        length, v = 0, start
        while v not in seen:
            seen.add(v)
            v, length = p[v], length + 1
        if length:
            lengths.append(length)
    return tuple(sorted(lengths, reverse=True))


@pytest.mark.parametrize(
    ("num_ops", "max_vertices", "max_edges"),
    [(1, 5, 10), (2, 5, 6), (3, 5, 5), (4, 5, 10), (2, 4, 3), (5, 3, 2), (3, 2, 1)],
)
def test_class_counts_equal_brute_force(num_ops, max_vertices, max_edges):
    brute = {k: len(v) for k, v in brute_force_classes(num_ops, max_vertices, max_edges).items()}
    assert count_classes(num_ops, max_vertices, max_edges).counts == brute


def test_class_counts_equal_brute_force_on_six_vertices():
    """Six vertices bring cycle types with gcd > 1 between orbits ((2, 2), (4,)) into Burnside's sum."""
    brute = {k: len(v) for k, v in brute_force_classes(2, 6, 8).items()}
    assert count_classes(2, 6, 8).counts == brute


@pytest.mark.slow
def test_class_counts_equal_brute_force_on_six_vertices_with_three_ops_and_every_edge():
    brute = {k: len(v) for k, v in brute_force_classes(3, 6, 15).items()}
    assert count_classes(3, 6, 15).counts == brute


def test_cycle_types_are_the_partitions():
    assert [len(cycle_types(n)) for n in range(8)] == [1, 1, 2, 3, 5, 7, 11, 15]
    for n in range(8):
        assert sum(
            math.factorial(n) // math.prod(c**m * math.factorial(m) for c, m in Counter(t).items())
            for t in cycle_types(n)
        ) == math.factorial(n)


@pytest.mark.parametrize(
    ("rows", "must", "free"),
    [
        (((1, 3),), ((1, 2),), ((1, 1),)),
        (((1, 1), (2, 1)), ((2, 1),), ((1, 2), (3, 1))),
        (((2, 2),), ((1, 1), (2, 1)), ((4, 1),)),
        (((1, 2), (3, 1)), ((3, 1),), ()),
    ],
)
def test_layer_edge_drawer_counts_what_the_inclusion_exclusion_counts(rows, must, free):
    """The column-by-column table that draws a layer's edges agrees with the count of the layered DP."""
    columns = tuple(
        sorted([(b, True) for b, c in must for _ in range(c)] + [(b, False) for b, c in free for _ in range(c)])
    )
    assert _LayerEdges(rows, columns, 14).completions[0][(0,) * len(rows)] == _bipartite(rows, must, free, 14)


# ------------------------------------------------------------------ the disk cache


def test_counts_are_cached_on_disk_and_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    space = DAGSpace("custom", ("a", "b", "c", "d"), max_vertices=6, max_edges=8)
    path = cache_path(4, 6, 8)
    assert path.is_relative_to(tmp_path / "cache") and not path.exists()
    built = stratified_sampler(space)
    saved = json.loads(path.read_text())
    assert (saved["num_ops"], saved["max_vertices"], saved["max_edges"]) == (4, 6, 8)
    assert {(v, e): c for v, e, c in saved["counts"]} == built.counts == count_classes(4, 6, 8).counts
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    _sampler.cache_clear()
    loaded = stratified_sampler(space)
    assert loaded is not built and loaded.fixed == built.fixed
    draws = []
    for sampler in (loaded, count_classes(4, 6, 8)):
        rng = np.random.default_rng(3)
        draws.append([sampler.sample(rng) for _ in range(50)])
    assert draws[0] == draws[1] and len(set(draws[0])) > 40  # the same stream whether counts were read or built

    _sampler.cache_clear()
    saved["counts"][0][2] += 1  # a cache is trusted as it stands: a changed count is read back
    path.write_text(json.dumps(saved))
    assert stratified_sampler(space).counts != built.counts

    _sampler.cache_clear()
    path.write_text('{"version": 1, "num_ops": 4')
    assert stratified_sampler(space).counts == built.counts
    assert json.loads(path.read_text())["counts"] == [[v, e, c] for (v, e), c in sorted(built.counts.items())]


def test_an_unwritable_cache_folder_does_not_stop_the_sampler(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("RLNAS_CACHE", str(blocker))
    _sampler.cache_clear()
    space = DAGSpace("custom", ("a", "b"), max_vertices=5, max_edges=6)
    assert space.is_valid(space.sample(np.random.default_rng(0)))


# ------------------------------------------------------------------ drawing


def _chi_square_z(observed: Counter, weights: dict, draws: int) -> float:
    """Wilson-Hilferty normal score of Pearson's chi-square statistic (about N(0, 1) for a correct sampler).

    Categories expected fewer than 5 times are pooled into one."""
    assert set(observed) <= set(weights)
    total = sum(weights.values())
    expected = {k: draws * w / total for k, w in weights.items()}
    rare = [k for k, e in expected.items() if e < 5]
    bins = [(observed[k], e) for k, e in expected.items() if e >= 5]
    if rare:
        bins.append((sum(observed[k] for k in rare), sum(expected[k] for k in rare)))
    stat = sum((o - e) ** 2 / e for o, e in bins)
    df = len(bins) - 1
    return ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))


SMALL = (2, 5, 6)  # ops, vertices, edges: 307 unique cells


@pytest.fixture(scope="module")
def small_classes():
    return brute_force_classes(*SMALL)


def test_draws_are_uniform_over_the_unique_cells(small_classes):
    sampler = count_classes(*SMALL)
    rng = np.random.default_rng(0)
    draws = 20_000
    seen = Counter(brute_force_form(sampler.sample(rng)) for _ in range(draws))
    every = {form: 1 for forms in small_classes.values() for form in forms}
    assert len(every) == sampler.num_cells
    assert abs(_chi_square_z(seen, every, draws)) < 4


def test_drawing_only_identity_fixed_dags_would_fail_the_uniformity_check(small_classes):
    """The check above has power: labelled-uniform draws (the identity's Burnside term alone) fail it."""
    sampler = count_classes(*SMALL)
    rng = np.random.default_rng(0)
    draws = 20_000
    seen = Counter()
    for _ in range(draws):
        vertices, edges = sampler._stratum.draw(rng)
        seen[brute_force_form(sampler._draw_fixed(vertices, (1,) * (vertices - 2), edges, rng))] += 1
    every = {form: 1 for forms in small_classes.values() for form in forms}
    assert _chi_square_z(seen, every, draws) > 10


@cache
def _automorphisms(edges: frozenset[tuple[int, int]], ops: tuple[int, ...]) -> int:
    """How many interior relabellings map a labelled DAG onto itself (brute force)."""
    n = len(ops)
    return sum(
        {(p[i], p[j]) for i, j in edges} == edges and all(ops[p[v]] == ops[v] for v in range(n))
        for p in _relabellings(n)
    )


def test_symmetric_cells_are_drawn_as_often_as_asymmetric_ones_on_six_vertices():
    """On 6 vertices (cycle types (2, 2) and (4,) with gcd > 1 between orbits), the share of draws with
    each automorphism count matches the share of unique cells with it; labelled-uniform draws would
    undersample a cell with |Aut| = a by a factor a."""
    space = (2, 6, 8)
    classes = brute_force_classes(*space)
    by_symmetry = Counter()
    for forms in classes.values():
        for edges, ops in forms:
            by_symmetry[_automorphisms(frozenset(edges), ops)] += 1
    sampler = count_classes(*space)
    rng = np.random.default_rng(2)
    draws = 20_000
    seen = Counter(_automorphisms(_edge_set(c), c.ops) for c in (sampler.sample(rng) for _ in range(draws)))
    assert len(by_symmetry) > 3
    assert abs(_chi_square_z(seen, by_symmetry, draws)) < 4


@pytest.mark.parametrize(("num_ops", "max_vertices", "max_edges"), [(4, 7, 9), (2, 7, 9), (1, 6, 7), (5, 9, 12)])
def test_strata_and_ops_of_draws_match_the_exact_counts(num_ops, max_vertices, max_edges):
    space = DAGSpace("custom", tuple(f"op{k}" for k in range(num_ops)), max_vertices, max_edges)
    sampler = stratified_sampler(space)
    rng = np.random.default_rng(1)
    cells = [space.sample(rng) for _ in range(4000)]
    for cell in cells[:500]:
        assert space.validate(cell) == cell
    strata = Counter((c.num_vertices, c.num_edges) for c in cells)
    assert abs(_chi_square_z(strata, sampler.counts, len(cells))) < 4
    assert {op for c in cells for op in c.ops[1:-1]} == set(range(num_ops))  # every op, none outside the space
    if num_ops > 1:
        # renaming the ops maps unique cells to unique cells, so the first interior op is uniform
        first = Counter(c.ops[1] for c in cells if c.num_vertices > 2)
        assert abs(_chi_square_z(first, dict.fromkeys(range(num_ops), 1), first.total())) < 4


def test_two_op_and_one_op_spaces_sample():
    for ops in (("a", "b"), ("a",)):
        space = DAGSpace("custom", ops, max_vertices=7, max_edges=9)
        rng = np.random.default_rng(0)
        assert all(space.is_valid(space.sample(rng)) for _ in range(100))


def test_a_space_without_cells_is_a_one_line_error():
    with pytest.raises(ConfigError, match="holds no cell"):
        count_classes(3, 1, 5)
    with pytest.raises(ConfigError, match="holds no cell"):
        count_classes(3, 5, 0)


def test_sampler_is_deterministic_for_a_seed():
    space = DAGSpace("custom", ("a", "b", "c", "d", "e"), max_vertices=9, max_edges=12)
    a = [space.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a == [space.sample(np.random.default_rng(5)) for _ in range(3)]
    assert all(c.ops[0] == INPUT and c.ops[-1] == OUTPUT for c in a)
