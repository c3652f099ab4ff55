"""The predictor side that the predictor-guided strategies (`bananas`, `agent+predictor`) share.

`GuidanceConfig` holds the settings both have (which predictor, its settings, the acquisition
function); `GuidedPredictor` refits the ensemble from scratch, ranks candidates by the acquisition
function of its mean and spread, and keeps what that costs for the strategy's `overhead()`.

Independent Thompson sampling (ITS) draws one value per candidate from a normal with the
ensemble's mean and standard deviation, independently across candidates, and ranks by the draws:
explorative where the members disagree, cheap, and a ranking rather than a single point, which is
what a batch of k needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from rlnas.cells import Arch, Cell
from rlnas.errors import ConfigError, check_finite
from rlnas.predictors import PREDICTORS, EnsembleConfig, make_predictor
from rlnas.spaces import SearchSpace

ACQUISITIONS = {
    "its": "independent Thompson sampling: one draw from N(mean, std) per candidate",
    "ucb": "upper confidence bound: mean + ucb_beta * std",
    "ei": "expected improvement over the best score so far, under N(mean, std)",
}


@dataclass(frozen=True)
class GuidanceConfig:
    """The predictor and acquisition settings of every predictor-guided strategy."""

    acquisition: str = "its"
    """How candidates are ranked: its, ucb or ei (see ACQUISITIONS)."""
    ucb_beta: float = 1.0
    """Weight of the standard deviation in ucb."""
    predictor: str = "path"
    """The predictor: path (BANANAS' MLP over the path encoding) or gin (a graph network)."""
    predictor_settings: EnsembleConfig | None = None
    """The predictor's settings; None uses its defaults with one torch thread, since runs are
    parallel across processes (one core each), as for the other strategies."""

    def __post_init__(self) -> None:
        check_finite(self)
        if self.acquisition not in ACQUISITIONS:
            raise ConfigError(f"unknown acquisition {self.acquisition!r}; choose one of {', '.join(ACQUISITIONS)}")
        if self.ucb_beta < 0:
            raise ConfigError(f"ucb_beta must be non-negative, got {self.ucb_beta}")
        if self.predictor not in PREDICTORS:
            raise ConfigError(f"unknown predictor {self.predictor!r}; choose one of {', '.join(PREDICTORS)}")
        if self.predictor_settings is not None and not isinstance(self.predictor_settings, PREDICTORS[self.predictor]):
            raise ConfigError(
                f"predictor_settings must be a {PREDICTORS[self.predictor].__name__} for the {self.predictor} predictor"
            )


def acquisition_values(
    kind: str, mean: np.ndarray, std: np.ndarray, best: float, beta: float, rng: np.random.Generator
) -> np.ndarray:
    """The acquisition value of each candidate (higher is better); `its` draws from `rng`."""
    if kind == "its":
        return mean + std * rng.standard_normal(len(mean))
    if kind == "ucb":
        return mean + beta * std
    gain = mean - best
    safe = np.maximum(std, 1e-12)
    z = gain / safe
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z]))
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    return np.where(std > 0, gain * cdf + std * pdf, np.maximum(gain, 0.0))


class GuidedPredictor:
    """An ensemble predictor refitted from scratch on a run's results, ranking candidates by an
    acquisition function, with its wall and CPU time kept apart from the query budget."""

    def __init__(self, space: SearchSpace, config: GuidanceConfig):
        self.config = config
        settings = config.predictor_settings or PREDICTORS[config.predictor](num_threads=1)
        self.predictor = make_predictor(space, settings)
        self.timings: dict[str, float | int] = {
            "fits": 0,
            "fit_seconds": 0.0,
            "fit_cpu_seconds": 0.0,
            "rank_seconds": 0.0,
            "rank_cpu_seconds": 0.0,
            "candidates_ranked": 0,
        }

    @contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Add the block's wall and CPU seconds (of this process) to `{kind}_seconds` and `{kind}_cpu_seconds`."""
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.timings[f"{kind}_seconds"] += time.perf_counter() - start
            self.timings[f"{kind}_cpu_seconds"] += time.process_time() - start_cpu

    def fit(self, cells: Sequence[Cell | Arch], scores: Sequence[float], rng: np.random.Generator) -> None:
        with self.timed("fit"):
            self.predictor.fit(cells, scores, rng)
        self.timings["fits"] += 1

    def order(self, candidates: Sequence[Cell | Arch], best: float, rng: np.random.Generator) -> np.ndarray:
        """Indices of `candidates`, best acquisition value first (the caller times it as ranking)."""
        mean, std = self.predictor.predict(candidates)
        value = acquisition_values(self.config.acquisition, mean, std, best, self.config.ucb_beta, rng)
        self.timings["candidates_ranked"] += len(candidates)
        return np.argsort(-value, kind="stable")
