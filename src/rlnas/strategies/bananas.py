"""BANANAS (White, Neiswanger and Savani, AAAI 2021): Bayesian optimisation with a neural predictor.

After `num_init` cells of the space's default sampler, the strategy repeats: fit an ensemble
predictor from scratch on every (cell, score) result so far; generate candidates as random
neighbours (one edit, the space's neighbour rules) of the best cells found, plus a few fresh
samples; score each unseen candidate by an acquisition function of the ensemble's mean and spread;
queue the `top_k` best. It refits after every `refit_every` new results (BANANAS: k = 10 cells per
iteration, so 14 fits for 150 queries). The defaults follow the paper: path encoding, an ensemble
of five, independent Thompson sampling, mutations of the best cells.

The predictor, its settings and the acquisition functions (independent Thompson sampling and
why) are in `rlnas.strategies.acquisition`, shared with `agent+predictor`.

The predictor's cost is not part of the query budget; `overhead()` reports it (fits, wall and CPU
seconds fitting and ranking, candidates ranked), for the runner's summary.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rlnas.benchmarks import Evaluation
from rlnas.cells import Cell
from rlnas.errors import ConfigError
from rlnas.spaces import SearchSpace
from rlnas.strategies.acquisition import GuidanceConfig, GuidedPredictor
from rlnas.strategies.base import Strategy


@dataclass(frozen=True)
class BananasConfig(GuidanceConfig):
    """Every setting of the BANANAS strategy (the predictor and acquisition ones in `GuidanceConfig`)."""

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

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_init", "top_k", "refit_every", "num_parents"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bananas setting {name} must be at least 1, got {getattr(self, name)}")
        if self.mutations_per_parent < 0 or self.num_random < 0 or self.mutations_per_parent + self.num_random < 1:
            raise ConfigError("bananas needs candidates: mutations_per_parent and num_random >= 0, not both 0")


class Bananas(Strategy):
    """BANANAS on the ask/tell contract: `bananas` (path encoding) or `bananas:gin` (graph network)."""

    name = "bananas"

    def __init__(self, predictor: str | None = None, config: BananasConfig | None = None):
        config = config or BananasConfig()
        self.config = replace(config, predictor=predictor) if predictor else config

    # ------------------------------------------------------------------ ask / tell
    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        self.guide = GuidedPredictor(space, self.config)
        self._results: dict[int, tuple[Cell, float]] = {}  # key -> (pruned cell, score), unique cells
        self._asked: set[int] = set()  # keys of every cell asked
        self._queue: list[Cell] = []
        self._in_flight = 0
        self._random_asked = 0
        self._new_since_fit = 0

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
        return dict(self.guide.timings)

    # ------------------------------------------------------------------ internals
    def _propose(self, cell: Cell) -> Cell:
        self._asked.add(cell.key)
        self._in_flight += 1
        return cell

    def _refit(self) -> None:
        cells, scores = zip(*self._results.values(), strict=True)
        self.guide.fit(cells, scores, self.rng)
        with self.guide.timed("rank"):  # generating the candidates is part of the guidance's cost
            candidates = self._candidates()
            if candidates:
                order = self.guide.order(candidates, max(scores), self.rng)
                self._queue = [candidates[i] for i in order[: self.config.top_k]]
            else:  # every candidate was asked before (a tiny space): fall back on the sampler
                self._queue = [self.space.sample(self.rng)]
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
