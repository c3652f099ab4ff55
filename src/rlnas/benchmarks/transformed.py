"""A benchmark whose scores pass through a transform: augmentations for training on many tasks, and the
measurement of whether a searcher responds to the scores it observes.

A monotone transform keeps the order of the architectures (a searcher that uses only the order
acts the same); `swap_halves` makes the worse half of the architectures the better one, keeping
the order within each half (a searcher that uses its observations must act differently).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation
from rlnas.cells import Cell

#: A transform of scores, applied elementwise to an array (and to one score as a 0-d array).
ScoreTransform = Callable[[np.ndarray], np.ndarray]


class TransformedScores(Benchmark):
    """`base` with its selection metric replaced by `transform(score)`; identity, space and look-ups are base's."""

    best_possible = None

    def __init__(self, base: Benchmark, transform: ScoreTransform, name: str | None = None):
        self.base = base
        self.transform = transform
        self.space = base.space
        self.metric = base.metric
        self.cost_metric = base.cost_metric
        self.name = name or f"{base.name}~transformed"

    def identity(self, cell: Cell) -> object:
        return self.base.identity(cell)

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        result = self.base.lookup(pruned, rng)
        score = float(self.transform(np.asarray(result.score, dtype=np.float64)))
        return replace(result, score=score, metrics={**result.metrics, self.metric: score})

    def all_scores(self) -> np.ndarray:
        return self.transform(np.asarray(self.base.all_scores(), dtype=np.float64))


def swap_halves(scores: np.ndarray) -> ScoreTransform:
    """A transform that puts the architectures below the median of `scores` above the others, each half
    keeping its own order: the best cell becomes a median one, the median one the best."""
    median, low, high = float(np.median(scores)), float(np.min(scores)), float(np.max(scores))
    gap = high - low + 1.0

    def transform(x: np.ndarray) -> np.ndarray:
        return np.where(x >= median, x - median, x - low + gap)

    return transform
