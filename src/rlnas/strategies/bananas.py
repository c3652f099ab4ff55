"""BANANAS (White, Neiswanger and Savani, AAAI 2021): Bayesian optimisation with a neural predictor.

After `num_init` cells of the space's default sampler, the strategy repeats: fit an ensemble
predictor from scratch on every (cell, score) result so far; generate candidates as random
neighbours (one edit, the space's neighbour rules) of the best cells found, plus a few fresh
samples; score each unseen candidate by an acquisition function of the ensemble's mean and spread;
queue the `top_k` best. It refits after every `refit_every` new results (BANANAS: k = 10 cells per
iteration, so 14 fits for 150 queries). The defaults follow the paper: path encoding, an ensemble
of five, independent Thompson sampling, mutations of the best cells.

Independent Thompson sampling (ITS) draws one value per candidate from a normal with the
ensemble's mean and standard deviation, independently across candidates, and ranks by the draws:
explorative where the members disagree, cheap, and a ranking rather than a single point, which is
what a batch of k needs.

The predictor's cost is not part of the query budget; `overhead()` reports it (fits, wall and CPU
seconds fitting and ranking, candidates ranked), for the runner's summary.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from rlnas.benchmarks import Evaluation
from rlnas.cells import Cell
from rlnas.errors import ConfigError
from rlnas.predictors import PREDICTORS, EnsembleConfig, Predictor, make_predictor
from rlnas.spaces import SearchSpace
from rlnas.strategies.base import Strategy

ACQUISITIONS = {
    "its": "independent Thompson sampling: one draw from N(mean, std) per candidate",
    "ucb": "upper confidence bound: mean + ucb_beta * std",
    "ei": "expected improvement over the best score so far, under N(mean, std)",
}


@dataclass(frozen=True)
class BananasConfig:
    """Every setting of the BANANAS strategy."""

    num_init: int = 10
    """Cells from the space's default sampler before the first fit."""
    top_k: int = 10
    """Candidates queued after each fit, best acquisition first."""
    refit_every: int = 10
    """New results between fits; 1 refits after every result. If fewer results have arrived when the
    queue runs dry, the strategy waits for those in flight, or refits when none are."""
    num_parents: int = 10
    """The best cells so far whose neighbours are candidates."""
    mutations_per_parent: int = 10
    """Distinct random neighbours (one edit each) drawn from each parent's neighbourhood."""
    num_random: int = 10
    """Fresh cells of the space's sampler added to the candidates."""
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
        for name in ("num_init", "top_k", "refit_every", "num_parents"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bananas setting {name} must be at least 1, got {getattr(self, name)}")
        if self.mutations_per_parent < 0 or self.num_random < 0 or self.mutations_per_parent + self.num_random < 1:
            raise ConfigError("bananas needs candidates: mutations_per_parent and num_random >= 0, not both 0")
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


class Bananas(Strategy):
    """BANANAS on the ask/tell contract: `bananas` (path encoding) or `bananas:gin` (graph network)."""

    name = "bananas"

    def __init__(self, predictor: str | None = None, config: BananasConfig | None = None):
        config = config or BananasConfig()
        self.config = replace(config, predictor=predictor) if predictor else config

    # ------------------------------------------------------------------ ask / tell
    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        config = self.config
        settings = config.predictor_settings or PREDICTORS[config.predictor](num_threads=1)
        self.predictor: Predictor = make_predictor(space, settings)
        self._results: dict[int, tuple[Cell, float]] = {}  # key -> (pruned cell, score), unique cells
        self._asked: set[int] = set()  # keys of every cell asked
        self._queue: list[Cell] = []
        self._in_flight = 0
        self._random_asked = 0
        self._new_since_fit = 0
        self._timings = {
            "fits": 0,
            "fit_seconds": 0.0,
            "fit_cpu_seconds": 0.0,
            "rank_seconds": 0.0,
            "rank_cpu_seconds": 0.0,
            "candidates_ranked": 0,
        }

    def ask(self) -> Cell | None:
        config = self.config
        if self._random_asked < config.num_init or (len(self._results) < 2 and not self._in_flight):
            self._random_asked += 1
            return self._propose(self.space.sample(self.rng))
        if len(self._results) < 2:
            return None
        queue_dry = not self._queue
        if self._new_since_fit >= config.refit_every or (queue_dry and not self._in_flight):
            self._refit()
        elif queue_dry:
            return None  # wait for the results in flight before the next fit
        return self._propose(self._queue.pop(0))

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        self._in_flight -= 1
        key = result.cell.key
        self._asked.add(key)
        if key not in self._results:
            self._results[key] = (result.cell, result.score)
            self._new_since_fit += 1

    def overhead(self) -> dict[str, float | int]:
        """The predictor's cost in this run (free in the query budget): fits, wall and CPU seconds (of
        this process) fitting, the same generating and ranking candidates, and candidates ranked. On a
        shared machine the wall time grows with the load; the CPU time is what the predictor costs."""
        return dict(self._timings)

    # ------------------------------------------------------------------ internals
    def _propose(self, cell: Cell) -> Cell:
        self._asked.add(cell.key)
        self._in_flight += 1
        return cell

    def _refit(self) -> None:
        start, start_cpu = time.perf_counter(), time.process_time()
        cells, scores = zip(*self._results.values(), strict=True)
        self.predictor.fit(cells, scores, self.rng)
        fitted, fitted_cpu = time.perf_counter(), time.process_time()
        candidates = self._candidates()
        if candidates:
            mean, std = self.predictor.predict(candidates)
            value = self._acquisition(mean, std, max(scores))
            self._queue = [candidates[i] for i in np.argsort(-value, kind="stable")[: self.config.top_k]]
        else:  # every candidate was asked before (a tiny space): fall back on the sampler
            self._queue = [self.space.sample(self.rng)]
        self._timings["fits"] += 1
        self._timings["fit_seconds"] += fitted - start
        self._timings["fit_cpu_seconds"] += fitted_cpu - start_cpu
        self._timings["rank_seconds"] += time.perf_counter() - fitted
        self._timings["rank_cpu_seconds"] += time.process_time() - fitted_cpu
        self._timings["candidates_ranked"] += len(candidates)
        self._new_since_fit = 0

    def _candidates(self) -> list[Cell]:
        config, rng = self.config, self.rng
        ranked = sorted(self._results.values(), key=lambda pair: -pair[1])
        found: dict[int, Cell] = {}
        for parent, _ in ranked[: config.num_parents]:
            neighbours = self.space.neighbours(parent)
            size = min(config.mutations_per_parent, len(neighbours))
            for k in rng.choice(len(neighbours), size=size, replace=False):
                found.setdefault(neighbours[k].key, neighbours[k])
        for _ in range(config.num_random):
            cell = self.space.sample(rng)
            found.setdefault(cell.key, cell)
        return [cell for key, cell in found.items() if key not in self._asked]

    def _acquisition(self, mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
        kind = self.config.acquisition
        if kind == "its":
            return mean + std * self.rng.standard_normal(len(mean))
        if kind == "ucb":
            return mean + self.config.ucb_beta * std
        gain = mean - best
        safe = np.maximum(std, 1e-12)
        z = gain / safe
        cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in z]))
        pdf = np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
        return np.where(std > 0, gain * cdf + std * pdf, np.maximum(gain, 0.0))
