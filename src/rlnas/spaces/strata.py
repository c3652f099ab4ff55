"""Uniform draws of unique cells from a DAG space, without listing the space.

Rejection sampling over random matrices favours cells with many vertices and edges, because such
cells have many labelled (matrix, ops) forms. This sampler draws every isomorphism class of the
space with the same probability; the derivation and its checks are in docs/sampler.md.

Counting. The interior vertices' permutations sigma act on the valid labelled DAGs with ops
(vertex 0 the only source, the last vertex the only sink, any vertex order). Classes are orbits,
so by Burnside #classes = (1/|G|) sum_sigma Fix(sigma). A DAG that sigma fixes has no edge inside
a cycle of sigma, and between two vertex orbits of sizes a and b it holds a subset of the
gcd(a, b) edge orbits of lcm(a, b) edges each; it is acyclic and valid iff its quotient on the
orbits is. Fix(sigma) therefore depends only on sigma's cycle type and is counted on the quotient,
and the op labellings that sigma fixes add a factor k^(cycles). A quotient is counted by peeling
it into layers by longest distance from the input: each layer's orbits need an in-edge from the
layer before and an out-edge to some later layer. The state of that count is how many orbits of
each size are placed and how many sit in the newest layer, so nothing grows like 2^(pairs).

Sampling (Dixon and Wilf, "The random selection of unlabeled graphs", 1983). Draw a stratum
(vertices, edges) in proportion to its class count, a cycle type in proportion to its Burnside
term, and a uniform DAG fixed by a permutation of that type (the layered count walked backwards,
then each layer's edge orbits), with one uniform op per cycle. A pair (sigma, x) with sigma x = x
is then uniform: x has probability |Aut(x)| / (|G| #classes), and its class, with |G| / |Aut(x)|
members, has probability 1 / #classes.

Counts depend only on the op count and the limits; they are cached under `rlnas.data.cache_dir()`.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.cells.cell import bits
from rlnas.data import cache_dir
from rlnas.errors import ConfigError
from rlnas.files import write_atomic

Poly = tuple[int, ...]  # coefficients in x, where x counts edges, truncated at the space's edge limit
Orbits = tuple[tuple[int, int], ...]  # (orbit size, how many orbits) pairs, sorted by size
CACHE_VERSION = 1

# ------------------------------------------------------------------ truncated polynomials


def _mul(a: Poly, b: Poly) -> Poly:
    out = [0] * len(a)
    for i, x in enumerate(a):
        if x:
            for j in range(len(a) - i):
                if b[j]:
                    out[i + j] += x * b[j]
    return tuple(out)


def _add(a: Poly, b: Poly, scale: int = 1) -> Poly:
    return tuple(x + scale * y for x, y in zip(a, b, strict=True))


def _unit(degree: int) -> Poly:
    return (1, *(0,) * degree)


@cache
def _power(p: Poly, k: int) -> Poly:
    return _unit(len(p) - 1) if k == 0 else _mul(p, _power(p, k - 1))


@cache
def _pair_poly(a: int, b: int, degree: int) -> Poly:
    """(1 + x^lcm(a, b))^gcd(a, b): the subsets of edge orbits from an orbit of size a to one of size b."""
    step = math.lcm(a, b)
    one_orbit = tuple(int(e == 0 or e == step) for e in range(degree + 1))
    return _power(one_orbit, math.gcd(a, b))


@cache
def _hit_poly(a: int, b: int, degree: int) -> Poly:
    """The nonempty subsets of those edge orbits: the pair is joined."""
    return _add(_pair_poly(a, b, degree), _unit(degree), -1)


@cache
def _column_poly(rows: Orbits, b: int, degree: int) -> Poly:
    """Every subset of the edge orbits from the orbits `rows` into one orbit of size b."""
    out = _unit(degree)
    for a, count in rows:
        out = _mul(out, _power(_pair_poly(a, b, degree), count))
    return out


@cache
def _bipartite(rows: Orbits, must: Orbits, free: Orbits, degree: int) -> Poly:
    """Edge-orbit sets from `rows` into `must` + `free` in which every row orbit has an out-edge and
    every `must` orbit an in-edge; inclusion-exclusion over the rows left without an out-edge."""
    total = (0,) * (degree + 1)
    for dropped in itertools.product(*(range(count + 1) for _, count in rows)):
        kept = tuple((a, count - x) for (a, count), x in zip(rows, dropped, strict=True) if count > x)
        term = _unit(degree)
        for b, count in must:
            term = _mul(term, _power(_add(_column_poly(kept, b, degree), _unit(degree), -1), count))
        for b, count in free:
            term = _mul(term, _power(_column_poly(kept, b, degree), count))
        ways = math.prod(math.comb(count, x) for (_, count), x in zip(rows, dropped, strict=True))
        total = _add(total, term, (-1) ** sum(dropped) * ways)
    return total


def _orbits(sizes: Sequence[int], counts: Sequence[int], ones: int = 0) -> Orbits:
    """Orbit multiset from counts per size, with `ones` extra orbits of size 1 (the input or output)."""
    merged = dict(zip(sizes, counts, strict=True))
    merged[1] = merged.get(1, 0) + ones
    return tuple((size, count) for size, count in sorted(merged.items()) if count)


class _Choice:
    """Options drawn in proportion to exact integer weights."""

    def __init__(self, options: list, weights: list[int]):
        self.options = options
        self.cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: np.random.Generator):
        if len(self.options) == 1:  # a forced choice consumes no random number
            return self.options[0]
        return self.options[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


def cycle_types(n: int) -> list[tuple[int, ...]]:
    """The partitions of n (cycle types of a permutation of n vertices), parts in decreasing order."""

    def parts(left: int, largest: int) -> list[tuple[int, ...]]:
        if left == 0:
            return [()]
        return [(p, *rest) for p in range(min(left, largest), 0, -1) for rest in parts(left - p, p)]

    return parts(n, n)


def permutations_of_type(cycles: tuple[int, ...]) -> int:
    """How many permutations of sum(cycles) vertices have this cycle type: n! / prod(c^m_c m_c!)."""
    centraliser = math.prod(c**m * math.factorial(m) for c, m in ((c, cycles.count(c)) for c in set(cycles)))
    return math.factorial(sum(cycles)) // centraliser


# ------------------------------------------------------------------ DAGs fixed by one cycle type

#: (orbits placed per size, orbits in the newest layer per size, whether the newest layer is the output)
State = tuple[tuple[int, ...], tuple[int, ...], bool]


class FixedDags:
    """The valid labelled DAGs on 2 + sum(cycles) vertices fixed by a permutation of the given cycle type.

    `fixed[e]` counts those with e edges. They are counted, and drawn, as quotients on the vertex
    orbits, built from the output backwards one layer at a time (a layer is the set of orbits at one
    longest distance from the input). `tails[state]` counts the partial quotients that end in a state.
    """

    def __init__(self, cycles: tuple[int, ...], max_edges: int):
        self.cycles = cycles
        self.degree = max_edges
        self.sizes = tuple(sorted(set(cycles)))
        self.available = tuple(cycles.count(s) for s in self.sizes)
        empty = (0,) * len(self.sizes)
        self.start: State = (empty, empty, True)
        self.tails: dict[State, Poly] = {self.start: _unit(max_edges)}
        self.sources: dict[State, list[State]] = {}
        placed_all: list[State] = [self.start] if not cycles else []
        levels: list[list[State]] = [[] for _ in range(len(cycles) + 1)]
        levels[0].append(self.start)
        for level in levels:
            for state in level:
                placed = state[0]
                left = (n - p for n, p in zip(self.available, placed, strict=True))
                for layer in itertools.product(*(range(x + 1) for x in left)):
                    if not any(layer):
                        continue
                    new = (tuple(p + x for p, x in zip(placed, layer, strict=True)), layer, False)
                    if new not in self.tails:
                        self.tails[new] = (0,) * (max_edges + 1)
                        self.sources[new] = []
                        (placed_all if new[0] == self.available else levels[sum(new[0])]).append(new)
                    self.sources[new].append(state)
                    self.tails[new] = _add(self.tails[new], self._step(state, layer))
        self.complete = placed_all
        self.fixed: Poly = (0,) * (max_edges + 1)
        for state in placed_all:
            self.fixed = _add(self.fixed, _mul(self.tails[state], self._bipartite(state, None)))
        self._choices: dict[tuple, _Choice] = {}
        self._drawers: dict[tuple, _LayerEdges] = {}
        # the permutation that draws use: orbit 0 is the input, then the cycles on consecutive vertices
        # in cycle order, then the output
        self.members: list[list[int]] = [[0]]
        start = 1
        for length in cycles:
            self.members.append(list(range(start, start + length)))
            start += length
        self.members.append([start])
        self.orbit_size = [len(m) for m in self.members]

    def _columns(self, state: State) -> tuple[Orbits, Orbits]:
        placed, newest, output_newest = state
        must = _orbits(self.sizes, newest, ones=int(output_newest))
        free = _orbits(self.sizes, [p - n for p, n in zip(placed, newest, strict=True)], ones=int(not output_newest))
        return must, free

    def _bipartite(self, state: State, layer: tuple[int, ...] | None) -> Poly:
        """Edge orbits from a new layer (None: the input) into the orbits placed in `state`."""
        rows = ((1, 1),) if layer is None else _orbits(self.sizes, layer)
        return _bipartite(rows, *self._columns(state), self.degree)

    def _ways(self, state: State, layer: tuple[int, ...]) -> int:
        """Which orbits of each size form the new layer."""
        return math.prod(math.comb(n - p, x) for n, p, x in zip(self.available, state[0], layer, strict=True))

    def _step(self, state: State, layer: tuple[int, ...]) -> Poly:
        return tuple(self._ways(state, layer) * c for c in _mul(self.tails[state], self._bipartite(state, layer)))

    def draw_layers(self, edges: int, rng: np.random.Generator) -> list[tuple[tuple[int, ...] | None, State, int]]:
        """A uniform quotient with `edges` edges, as (layer, state it joins, edges it adds), input first."""
        steps = []
        state, before = self._options(None, edges).draw(rng)
        steps.append((None, state, edges - before))
        while state != self.start:
            layer = state[1]
            source, earlier = self._options(state, before).draw(rng)
            steps.append((layer, source, before - earlier))
            state, before = source, earlier
        return steps

    def _options(self, state: State | None, edges: int) -> _Choice:
        """Predecessor states and edge splits of `state` (None: the finished quotient), with their weights."""
        key = (state, edges)
        if key not in self._choices:
            options, weights = [], []
            for source in self.complete if state is None else self.sources[state]:
                layer = None if state is None else state[1]
                tail = self.tails[source]
                link = self._bipartite(source, layer)
                ways = 1 if layer is None else self._ways(source, layer)
                for before in range(edges + 1):
                    weight = ways * tail[before] * link[edges - before]
                    if weight:
                        options.append((source, before))
                        weights.append(weight)
            self._choices[key] = _Choice(options, weights)
        return self._choices[key]

    def draw(self, edges: int, rng: np.random.Generator) -> list[int]:
        """A uniform DAG with `edges` edges among those `members`' permutation fixes: out-neighbour bitmasks."""
        steps = self.draw_layers(edges, rng)
        pools = {s: [o for o in range(1, len(self.members) - 1) if self.orbit_size[o] == s] for s in self.sizes}
        layers = [[0]]
        for layer, _, _ in steps[1:]:
            layers.append([o for s, n in zip(self.sizes, layer, strict=True) for o in _take(rng, pools[s], n)])
        layers.append([len(self.members) - 1])
        succ = [0] * (self.members[-1][0] + 1)
        for depth, (layer, state, spent) in enumerate(steps):
            self._join(layers[depth], layers[depth + 1 :], self._drawer(layer, state), spent, succ, rng)
        return succ

    def _drawer(self, layer: tuple[int, ...] | None, state: State) -> _LayerEdges:
        key = (layer, state)
        if key not in self._drawers:
            rows = ((1, 1),) if layer is None else _orbits(self.sizes, layer)
            must, free = self._columns(state)
            columns = sorted(
                [(b, True) for b, c in must for _ in range(c)] + [(b, False) for b, c in free for _ in range(c)]
            )
            self._drawers[key] = _LayerEdges(rows, tuple(columns), self.degree)
        return self._drawers[key]

    def _join(
        self,
        layer: list[int],
        later: list[list[int]],
        drawer: _LayerEdges,
        edges: int,
        succ: list[int],
        rng: np.random.Generator,
    ) -> None:
        """Draw the edge orbits from one layer's orbits to the later layers' (the next layer's need an in-edge)."""
        size, members = self.orbit_size, self.members
        columns = sorted(
            ((o, d == 0) for d, orbits in enumerate(later) for o in orbits), key=lambda c: (size[c[0]], c[1])
        )
        pending = {s: [o for o in layer if size[o] == s] for s, _ in drawer.rows}  # rows without an out-edge yet
        joined: dict[int, list[int]] = {s: [] for s, _ in drawer.rows}
        for (column, _), (new, old, spent) in zip(columns, drawer.draw(edges, rng), strict=True):
            hits = []
            for (s, _), n, o in zip(drawer.rows, new, old, strict=True):
                fresh = _take(rng, pending[s], n)
                hits += fresh + _take(rng, joined[s].copy(), o)
                joined[s] += fresh
            b = size[column]
            split = _splits(tuple(_hit_poly(size[h], b, self.degree) for h in hits), spent)
            for h, used in zip(hits, split.draw(rng), strict=True):
                a = size[h]
                period = math.lcm(a, b)
                for shift in _take(rng, list(range(math.gcd(a, b))), used // period):
                    for x in range(period):  # edge orbit `shift`: (h[x], column[x + shift]) for all x
                        succ[members[h][x % a]] |= 1 << members[column][(x + shift) % b]


# ------------------------------------------------------------------ drawing one layer's edge orbits


class _LayerEdges:
    """Uniform edge-orbit sets between one layer (rows) and the orbits after it (columns), drawn column
    by column; the state is how many row orbits of each size already have an out-edge."""

    def __init__(self, rows: Orbits, columns: tuple[tuple[int, bool], ...], degree: int):
        self.rows, self.columns, self.degree = rows, columns, degree
        full = tuple(count for _, count in rows)
        zero = (0,) * (degree + 1)
        self.completions: list[dict[tuple[int, ...], Poly]] = [{} for _ in range(len(columns) + 1)]
        self.completions[-1] = {full: _unit(degree)}
        for i in range(len(columns) - 1, -1, -1):
            table = {}
            for covered in itertools.product(*(range(c + 1) for c in full)):
                total = zero
                for new, _, ways, poly in self._moves(i, covered):
                    after = self.completions[i + 1].get(tuple(c + n for c, n in zip(covered, new, strict=True)))
                    if after is not None:
                        total = _add(total, _mul(poly, after), ways)
                if any(total):
                    table[covered] = total
            self.completions[i] = table
        self._choices: dict[tuple, _Choice] = {}

    def _moves(self, i: int, covered: tuple[int, ...]):
        """Ways to join column i to the rows: (newly covered rows per size, already covered rows per size,
        how many row choices, edge poly)."""
        b, must = self.columns[i]
        ranges = [range(count - c + 1) for (_, count), c in zip(self.rows, covered, strict=True)]
        ranges += [range(c + 1) for c in covered]
        for counts in itertools.product(*ranges):
            new, old = counts[: len(covered)], counts[len(covered) :]
            if must and not any(counts):
                continue
            ways = math.prod(
                math.comb(count - c, n) * math.comb(c, o)
                for (_, count), c, n, o in zip(self.rows, covered, new, old, strict=True)
            )
            poly = _unit(self.degree)
            for (a, _), n, o in zip(self.rows, new, old, strict=True):
                poly = _mul(poly, _power(_hit_poly(a, b, self.degree), n + o))
            yield new, old, ways, poly

    def draw(self, edges: int, rng: np.random.Generator) -> list[tuple[tuple[int, ...], tuple[int, ...], int]]:
        """Per column: (newly covered rows per size, already covered rows per size, edges to it)."""
        covered = (0,) * len(self.rows)
        out = []
        for i in range(len(self.columns)):
            (new, old), spent = self._options(i, covered, edges).draw(rng)
            out.append((new, old, spent))
            covered = tuple(c + n for c, n in zip(covered, new, strict=True))
            edges -= spent
        return out

    def _options(self, i: int, covered: tuple[int, ...], edges: int) -> _Choice:
        key = (i, covered, edges)
        if key not in self._choices:
            options, weights = [], []
            for new, old, ways, poly in self._moves(i, covered):
                after = self.completions[i + 1].get(tuple(c + n for c, n in zip(covered, new, strict=True)))
                if after is None:
                    continue
                for spent in range(edges + 1):
                    weight = ways * poly[spent] * after[edges - spent]
                    if weight:
                        options.append(((new, old), spent))
                        weights.append(weight)
            self._choices[key] = _Choice(options, weights)
        return self._choices[key]


# ------------------------------------------------------------------ the sampler


@dataclass
class StratifiedSampler:
    """Uniform draws over the unique cells of a DAG space; `counts[(vertices, edges)]` are exact class counts."""

    num_ops: int
    max_vertices: int
    max_edges: int
    counts: dict[tuple[int, int], int]
    #: Burnside terms: fixed[(vertices, cycle type)][e] = DAGs with e edges fixed by one permutation of that type.
    fixed: dict[tuple[int, tuple[int, ...]], Poly]

    def __post_init__(self) -> None:
        self._strata = sorted(k for k, c in self.counts.items() if c)
        if not self._strata:
            raise ConfigError(
                f"a DAG space with {self.max_vertices} vertices and {self.max_edges} edges holds no cell; "
                "allow at least 2 vertices and 1 edge"
            )
        self._stratum = _Choice(self._strata, [self.counts[k] for k in self._strata])
        self._cycle_type: dict[tuple[int, int], _Choice] = {}
        self._dags: dict[tuple[int, tuple[int, ...]], FixedDags] = {}

    @property
    def num_cells(self) -> int:
        return sum(self.counts.values())

    def joint_distribution(self) -> dict[tuple[int, int], float]:
        """Probability of each (vertex count, edge count) under a uniform draw of unique cells."""
        total = self.num_cells
        return {k: c / total for k, c in self.counts.items() if c}

    def sample(self, rng: np.random.Generator) -> Cell:
        vertices, edges = self._stratum.draw(rng)
        if (vertices, edges) not in self._cycle_type:
            types = cycle_types(vertices - 2)
            weights = [permutations_of_type(t) * self.num_ops ** len(t) * self.fixed[vertices, t][edges] for t in types]
            self._cycle_type[vertices, edges] = _Choice(types, weights)
        cycles = self._cycle_type[vertices, edges].draw(rng)
        return self._draw_fixed(vertices, cycles, edges, rng)

    def _draw_fixed(self, vertices: int, cycles: tuple[int, ...], edges: int, rng: np.random.Generator) -> Cell:
        """A uniform DAG with `edges` edges among those fixed by a permutation of this cycle type, with ops
        constant on each cycle."""
        dags = self._dags.get((vertices, cycles))
        if dags is None:
            dags = self._dags[vertices, cycles] = FixedDags(cycles, self.max_edges)
        succ = dags.draw(edges, rng)
        labels = [INPUT] + [0] * (vertices - 2) + [OUTPUT]
        for orbit, op in zip(dags.members[1:-1], rng.integers(0, self.num_ops, size=len(cycles)), strict=True):
            for v in orbit:
                labels[v] = int(op)
        return _upper_triangular(succ, labels)


def _take(rng: np.random.Generator, pool: list[int], k: int) -> list[int]:
    """Remove a uniformly random k-subset from `pool` and return it (in no meaningful order)."""
    if k == len(pool):
        taken = pool.copy()
        pool.clear()
        return taken
    return [pool.pop(int(rng.random() * len(pool))) for _ in range(k)]


@cache
def _splits(polys: tuple[Poly, ...], edges: int) -> _Choice:
    """Every way to write `edges` as e_1 + ... + e_n, weighted by prod polys[i][e_i]."""
    return _Choice(*_compositions(polys, edges))


def _compositions(polys: tuple[Poly, ...], edges: int) -> tuple[list[tuple[int, ...]], list[int]]:
    if not polys:
        return ([()], [1]) if edges == 0 else ([], [])
    options, weights = [], []
    for first in range(edges + 1):
        if polys[0][first]:
            rest, rest_weights = _compositions(polys[1:], edges - first)
            options += [(first, *r) for r in rest]
            weights += [polys[0][first] * w for w in rest_weights]
    return options, weights


def _upper_triangular(succ: list[int], labels: list[int]) -> Cell:
    """The cell in the topological order that always takes the lowest ready vertex."""
    n = len(succ)
    indegree = [0] * n
    for row in succ:
        for j in bits(row):
            indegree[j] += 1
    order, ready = [], [0]
    while ready:
        v = min(ready)
        ready.remove(v)
        order.append(v)
        for j in bits(succ[v]):
            indegree[j] -= 1
            if not indegree[j]:
                ready.append(j)
    position = [0] * n
    for i, v in enumerate(order):
        position[v] = i
    rows = tuple(sum(1 << position[j] for j in bits(succ[v])) for v in order)
    return Cell(rows, tuple(labels[v] for v in order))


def count_classes(num_ops: int, max_vertices: int, max_edges: int) -> StratifiedSampler:
    """Count every stratum from scratch (no cache): Burnside's sum over the cycle types of each vertex count."""
    fixed, dags = {}, {}
    for vertices in range(2, max_vertices + 1):
        for cycles in cycle_types(vertices - 2):
            dags[vertices, cycles] = FixedDags(cycles, max_edges)
            fixed[vertices, cycles] = dags[vertices, cycles].fixed
    counts = {}
    for vertices in range(2, max_vertices + 1):
        group = math.factorial(vertices - 2)
        for edges in range(max_edges + 1):
            total = sum(
                permutations_of_type(t) * num_ops ** len(t) * fixed[vertices, t][edges]
                for t in cycle_types(vertices - 2)
            )
            if total % group:
                raise AssertionError(f"Burnside's sum for {vertices} vertices, {edges} edges is not a multiple of |G|")
            if total:
                counts[vertices, edges] = total // group
    sampler = StratifiedSampler(num_ops, max_vertices, max_edges, counts, fixed)
    sampler._dags.update(dags)
    return sampler


def cache_path(num_ops: int, max_vertices: int, max_edges: int) -> Path:
    return cache_dir() / "strata" / f"dag-ops{num_ops}-v{max_vertices}-e{max_edges}.json"


def _load(path: Path, num_ops: int, max_vertices: int, max_edges: int) -> StratifiedSampler | None:
    """The cached counts, or None when the file is missing, unreadable or of other limits (then it is rebuilt)."""
    try:
        data = json.loads(path.read_text())
        if (data["version"], data["num_ops"], data["max_vertices"], data["max_edges"]) != (
            CACHE_VERSION,
            num_ops,
            max_vertices,
            max_edges,
        ):
            return None
        counts = {(v, e): c for v, e, c in data["counts"]}
        fixed = {(v, tuple(t)): tuple(p) for v, t, p in data["fixed"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    expected = {(v, t) for v in range(2, max_vertices + 1) for t in cycle_types(v - 2)}
    if fixed.keys() != expected or any(len(p) != max_edges + 1 for p in fixed.values()):
        return None
    return StratifiedSampler(num_ops, max_vertices, max_edges, counts, fixed)


def _save(path: Path, sampler: StratifiedSampler) -> None:
    """Write atomically (a temporary file, then a rename); a cache that cannot be written is skipped."""
    data = {
        "version": CACHE_VERSION,
        "num_ops": sampler.num_ops,
        "max_vertices": sampler.max_vertices,
        "max_edges": sampler.max_edges,
        "counts": [[v, e, c] for (v, e), c in sorted(sampler.counts.items())],
        "fixed": [[v, list(t), list(p)] for (v, t), p in sorted(sampler.fixed.items())],
    }
    with contextlib.suppress(OSError):  # a cache that cannot be written is only rebuilt next time
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data))


@cache
def _sampler(num_ops: int, max_vertices: int, max_edges: int) -> StratifiedSampler:
    path = cache_path(num_ops, max_vertices, max_edges)
    sampler = _load(path, num_ops, max_vertices, max_edges)
    if sampler is None:
        sampler = count_classes(num_ops, max_vertices, max_edges)
        _save(path, sampler)
    return sampler


def stratified_sampler(space) -> StratifiedSampler:
    """The sampler of a DAGSpace, from the disk cache of its counts where present (built and cached otherwise)."""
    return _sampler(len(space.op_names), space.max_vertices, space.max_edges)
