"""How far a sampler's (vertex count, edge count) distribution is from a uniform draw over a table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from rlnas.benchmarks.nb101_table import NB101Table
from rlnas.cells import Cell


def draw_counts(sample: Callable[[np.random.Generator], Cell], n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) array of the vertex and edge counts of n draws."""
    cells = [sample(rng) for _ in range(n)]
    return np.array([(c.num_vertices, c.num_edges) for c in cells])


def table_counts(table: NB101Table) -> np.ndarray:
    """(N, 2) array of the vertex and edge counts of every cell of the table."""
    return np.stack([table.num_vertices.astype(np.int64), table.adj.reshape(len(table), -1).sum(axis=1)], axis=1)


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between the joint (vertices, edges) histograms of two count arrays."""
    pa, pb = Counter(map(tuple, a.tolist())), Counter(map(tuple, b.tolist()))
    return 0.5 * sum(abs(pa[k] / len(a) - pb[k] / len(b)) for k in pa.keys() | pb.keys())
