"""Performance predictors trained online from the queried (cell, score) pairs, with uncertainty.

Two kinds, both deep ensembles (mean and spread of k members) that fit from scratch in seconds:
`path` (BANANAS: an MLP over the path encoding) and `gin` (a graph isomorphism network over the
vertex tokens). Every size comes from the search space, so they work on any ops-on-nodes space.
This package imports torch only when a predictor is made.
"""

from __future__ import annotations

from rlnas.errors import ConfigError
from rlnas.predictors.base import Predictor, kendall_tau
from rlnas.predictors.config import EnsembleConfig, GINConfig, PathConfig
from rlnas.spaces import SearchSpace

PREDICTORS: dict[str, type[EnsembleConfig]] = {"path": PathConfig, "gin": GINConfig}


def make_predictor(space: SearchSpace, config: str | EnsembleConfig = "path") -> Predictor:
    """A fresh predictor for cells of `space`: by name (default settings) or by its settings object."""
    if isinstance(config, str):
        if config not in PREDICTORS:
            raise ConfigError(f"unknown predictor {config!r}; choose one of {', '.join(PREDICTORS)}")
        config = PREDICTORS[config]()
    if isinstance(config, PathConfig):
        from rlnas.predictors.path import PathPredictor

        return PathPredictor(config)
    if isinstance(config, GINConfig):
        from rlnas.predictors.gin import GINPredictor

        return GINPredictor(space, config)
    raise ConfigError(f"no predictor takes settings of type {type(config).__name__}; use PathConfig or GINConfig")


__all__ = ["PREDICTORS", "EnsembleConfig", "GINConfig", "PathConfig", "Predictor", "kendall_tau", "make_predictor"]
