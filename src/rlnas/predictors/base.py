"""The predictor interface and the rank correlation it is judged by; torch-free."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rlnas.cells import Arch, Cell


class Predictor(Protocol):
    """Estimates the score of unqueried cells from the (cell, score) pairs queried so far."""

    def fit(self, cells: Sequence[Cell | Arch], scores: Sequence[float], rng: np.random.Generator) -> None:
        """Train from scratch on pruned, valid cells (or several-cell architectures) and their scores;
        all randomness from `rng`."""
        ...

    def predict(self, cells: Sequence[Cell | Arch]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the predicted scores of pruned, valid cells; std is the model's uncertainty."""
        ...


def kendall_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b (ties counted as neither concordant nor discordant); O(n^2) memory, for n <= ~5000."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError("kendall_tau needs two 1-d sequences of the same length, at least 2")
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    denominator = np.sqrt(np.abs(sa).sum() * np.abs(sb).sum())
    return float((sa * sb).sum() / denominator) if denominator > 0 else float("nan")
