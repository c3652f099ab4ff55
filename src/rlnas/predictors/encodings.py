"""BANANAS' path encoding (White et al. 2021), for cells of any ops-on-nodes space.

A path runs from a source vertex (one without in-edges: the input, or either input of a DARTS
cell) to the output; it is named by the index of its cell in the architecture (0 for a one-cell
space; DARTS has a normal and a reduction cell), the index of its source among the cell's sources,
and the op labels of the vertices it passes, in order. Structural vertices (sum, input, output) carry no op
and are left out of the name, so a converted ops-on-edges cell (NB201) is named by the ops of its
edges along each path. Isomorphic cells have the same paths.

The number of possible paths grows as (number of ops) ** (path length), so instead of a fixed
table of every path, the features of a fit are the paths that occur in its cells, the most
frequent first, at most `max_features` of them (BANANAS truncates its encoding to the most common
paths in the same spirit). A path that no fitted cell has would only feed untrained weights, so it
is dropped when encoding later cells.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from rlnas.cells import Arch, Cell
from rlnas.cells.cell import bits

Path = tuple[int, ...]


def arch_paths(arch: Cell | Arch) -> frozenset[Path]:
    """The distinct source -> output paths of a pruned cell or architecture, each as
    (cell index, source rank, op labels...)."""
    cells = arch.cells if isinstance(arch, Arch) else (arch,)
    return frozenset((index, *path) for index, cell in enumerate(cells) for path in _cell_paths(cell))


def _cell_paths(cell: Cell) -> set[Path]:
    n = len(cell.rows)
    has_input = 0
    for row in cell.rows:
        has_input |= row
    sources = [v for v in range(n - 1) if not has_input >> v & 1]
    # paths from each vertex to the output, by op labels, built backwards in topological order
    to_output: list[set[Path]] = [set() for _ in range(n)]
    to_output[n - 1] = {()}
    for v in range(n - 2, -1, -1):
        label = cell.ops[v]
        prefix = (label,) if label >= 0 else ()
        for w in bits(cell.rows[v]):
            to_output[v].update(prefix + path for path in to_output[w])
    return {(rank, *path) for rank, source in enumerate(sources) for path in to_output[source]}


class PathVocabulary:
    """The paths of a set of cells, most frequent first, as the columns of a 0/1 feature matrix."""

    def __init__(self, cell_path_sets: Sequence[frozenset[Path]], max_features: int):
        counts = Counter(path for paths in cell_path_sets for path in paths)
        ranked = sorted(counts, key=lambda path: (-counts[path], len(path), path))[:max_features]
        self.index = {path: k for k, path in enumerate(ranked)}

    def __len__(self) -> int:
        return len(self.index)

    def encode(self, cell_path_sets: Sequence[frozenset[Path]]) -> np.ndarray:
        features = np.zeros((len(cell_path_sets), max(1, len(self.index))), dtype=np.float32)
        for row, paths in enumerate(cell_path_sets):
            columns = [self.index[p] for p in paths if p in self.index]
            features[row, columns] = 1.0
        return features
