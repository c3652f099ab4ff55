"""A sampler whose (vertex count, edge count) distribution is that of a uniform draw from the space.

Rejection sampling over random matrices favours cells with many vertices and edges, because
such cells have many labelled (matrix, ops) forms. To match a uniform draw over *unique* cells we
need the number of unique cells in each (V, E) stratum, and we get it without any table of the
space: enumerate every labelled adjacency matrix that keeps all its vertices after pruning, and
count isomorphism classes of (matrix, ops) pairs with Burnside's lemma. A class C with V
vertices has T(C) / |Aut(C)| labelled forms, where T counts the topological orders of its
interior vertices, so

    #classes in a stratum = sum over matrices M of (1 / T(M)) * sum over sigma in Aut(M) of k^c(sigma)

with k ops and c(sigma) the number of cycles of sigma on the interior vertices (Burnside counts
the op labellings that sigma fixes). The sampler draws a stratum with probability proportional
to its class count, a matrix of that stratum with probability proportional to its share of the
classes, and ops uniformly. For NB101 this reproduces the published 423,624 cells exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from rlnas.cells import INPUT, OUTPUT, Cell


@dataclass(frozen=True)
class Stratum:
    num_vertices: int
    num_edges: int
    num_classes: int
    matrices: np.ndarray  # int64 codes: bit k is the k-th pair (i, j), i < j, in row-major order
    cumulative_share: np.ndarray  # cumulative class share of each matrix, ending at num_classes


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _strata_for_vertex_count(n: int, num_ops: int, max_edges: int) -> list[Stratum]:
    pairs = _pairs(n)
    codes = np.arange(1 << len(pairs), dtype=np.int64)
    edge_count = np.zeros_like(codes)
    for k in range(len(pairs)):
        edge_count += codes >> k & 1
    codes = codes[edge_count <= max_edges]
    # All vertices survive pruning iff every non-input vertex has an in-edge and every
    # non-output vertex an out-edge (induction along the topological order).
    in_mask = [sum(1 << k for k, (_, j) in enumerate(pairs) if j == v) for v in range(n)]
    out_mask = [sum(1 << k for k, (i, _) in enumerate(pairs) if i == v) for v in range(n)]
    keep = np.ones(len(codes), dtype=bool)
    for v in range(n):
        if v > 0:
            keep &= (codes & in_mask[v]) != 0
        if v < n - 1:
            keep &= (codes & out_mask[v]) != 0
    codes = codes[keep]

    interior = list(range(1, n - 1))
    orders = _topological_orders(codes, pairs, interior)
    burnside = np.zeros(len(codes), dtype=np.int64)
    for perm in itertools.permutations(interior):
        image = {0: 0, n - 1: n - 1} | dict(zip(interior, perm, strict=True))
        permuted = np.zeros_like(codes)
        backwards = np.zeros(len(codes), dtype=bool)
        pair_index = {p: k for k, p in enumerate(pairs)}
        for k, (i, j) in enumerate(pairs):
            bit = codes >> k & 1
            a, b = image[i], image[j]
            if a < b:
                permuted |= bit << pair_index[a, b]
            else:
                backwards |= bit.astype(bool)
        cycles = _count_cycles(dict(zip(interior, perm, strict=True)))
        burnside += np.where(~backwards & (permuted == codes), num_ops**cycles, 0)
    share = burnside / orders

    edge_count = np.zeros_like(codes)
    for k in range(len(pairs)):
        edge_count += codes >> k & 1
    strata = []
    for e in np.unique(edge_count):
        in_stratum = edge_count == e
        cumulative = np.cumsum(share[in_stratum])
        strata.append(Stratum(n, int(e), round(cumulative[-1]), codes[in_stratum], cumulative))
    return strata


def _topological_orders(codes: np.ndarray, pairs: list[tuple[int, int]], interior: list[int]) -> np.ndarray:
    """Number of orders of the interior vertices that respect the edges, by DP over placed subsets."""
    k = len(interior)
    slot = {v: s for s, v in enumerate(interior)}
    preds = [np.zeros(len(codes), dtype=np.int64) for _ in interior]
    for bit, (i, j) in enumerate(pairs):
        if i in slot and j in slot:
            preds[slot[j]] |= (codes >> bit & 1) << slot[i]
    ways = np.zeros((1 << k, len(codes)), dtype=np.int64)
    ways[0] = 1
    for placed in range(1 << k):
        for s in range(k):
            if not placed >> s & 1:
                ready = (preds[s] & ~placed) == 0
                ways[placed | 1 << s] += np.where(ready, ways[placed], 0)
    return ways[(1 << k) - 1]


def _count_cycles(perm: dict[int, int]) -> int:
    seen, cycles = set(), 0
    for start in perm:
        if start not in seen:
            cycles += 1
            v = start
            while v not in seen:
                seen.add(v)
                v = perm[v]
    return cycles


class StratifiedSampler:
    def __init__(self, strata: list[Stratum]):
        self.strata = strata
        counts = np.array([s.num_classes for s in strata], dtype=np.float64)
        self._cumulative = np.cumsum(counts) / counts.sum()
        self._pairs = {n: _pairs(n) for n in {s.num_vertices for s in strata}}

    @property
    def num_cells(self) -> int:
        return sum(s.num_classes for s in self.strata)

    def joint_distribution(self) -> dict[tuple[int, int], float]:
        """Probability of each (vertex count, edge count) under a uniform draw of unique cells."""
        total = self.num_cells
        return {(s.num_vertices, s.num_edges): s.num_classes / total for s in self.strata}

    def sample(self, rng: np.random.Generator, num_ops: int = 3) -> Cell:
        stratum = self.strata[int(np.searchsorted(self._cumulative, rng.random(), side="right"))]
        pick = np.searchsorted(stratum.cumulative_share, rng.random() * stratum.cumulative_share[-1], side="right")
        code = int(stratum.matrices[min(int(pick), len(stratum.matrices) - 1)])
        n = stratum.num_vertices
        rows = [0] * n
        for k, (i, j) in enumerate(self._pairs[n]):
            if code >> k & 1:
                rows[i] |= 1 << j
        ops = (INPUT, *(int(o) for o in rng.integers(0, num_ops, size=n - 2)), OUTPUT)
        return Cell(tuple(rows), ops)


@cache
def _sampler(num_ops: int, max_vertices: int, max_edges: int) -> StratifiedSampler:
    strata = []
    for n in range(2, max_vertices + 1):
        strata.extend(_strata_for_vertex_count(n, num_ops, max_edges))
    return StratifiedSampler(strata)


def stratified_sampler(space) -> StratifiedSampler:
    """The (cached) stratified sampler of a DAGSpace; building it for NB101 takes a few seconds."""
    return _sampler(len(space.op_names), space.max_vertices, space.max_edges)
