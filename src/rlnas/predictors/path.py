"""BANANAS' predictor: an ensemble of MLPs over the path encoding of a cell."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rlnas.cells import Arch, Cell
from rlnas.predictors.config import PathConfig
from rlnas.predictors.encodings import Path, PathVocabulary, arch_paths
from rlnas.predictors.ensemble import EnsemblePredictor, ensemble_mlp

#: Bound on the per-predictor cache of path sets (cells are re-encoded at every fit).
_PATH_CACHE_SIZE = 100_000


class _PathMLP(nn.Module):
    def __init__(self, config: PathConfig, num_features: int, generator: torch.Generator):
        super().__init__()
        self.mlp = ensemble_mlp(config.ensemble_size, num_features, config.hidden_size, config.num_layers, 1, generator)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features).squeeze(-1)


class PathPredictor(EnsemblePredictor):
    config: PathConfig

    def __init__(self, config: PathConfig | None = None):
        super().__init__(config or PathConfig())
        self.vocabulary: PathVocabulary | None = None
        self._paths: dict[tuple, frozenset[Path]] = {}

    def _paths_of(self, cell: Cell | Arch) -> frozenset[Path]:
        form = (cell.rows, cell.ops)
        paths = self._paths.get(form)
        if paths is None:
            if len(self._paths) >= _PATH_CACHE_SIZE:
                self._paths.clear()
            paths = self._paths[form] = arch_paths(cell)
        return paths

    def encode(self, cells: Sequence[Cell | Arch], fitting: bool) -> tuple[torch.Tensor, ...]:
        path_sets = [self._paths_of(cell) for cell in cells]
        if fitting:
            self.vocabulary = PathVocabulary(path_sets, self.config.max_features)
        return (torch.from_numpy(self.vocabulary.encode(path_sets)),)

    def build(self, generator: torch.Generator) -> nn.Module:
        return _PathMLP(self.config, max(1, len(self.vocabulary)), generator)
