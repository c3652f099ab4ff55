"""Guided edits: which edit of the current cell to query, chosen from a score model of the run's own results.

A general policy chooses the kind of move (an edit, a return to an elite, a fresh sample). Which edit
to make is a different question: on a space it never saw, the edits its network prefers are worse
than random ones (docs/general.md), because what an op is worth differs from space to space and table
to table. `EditGuide` answers it from what this run has observed: a ridge regression of each queried
cell's rank among the run's scores on features every space has (how many vertices carry each op, how
many vertices and edges there are, and how many edges join each pair of vertex kinds: op to op, input
to op, op to output), refitted at every choice; an unseen edit is then drawn with probability
proportional to exp(predicted rank / temperature). Before `min_results` results it draws uniformly. A
fresh sample is picked the same way among a few of the space's samples. The model knows an op only by
its index and its worth only from this run's scores, so it serves any space and op vocabulary, and a
table whose scores change changes its choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rlnas.benchmarks import Evaluation, QuerySession
from rlnas.cells import INPUT2, Arch, Cell
from rlnas.cells.cell import bits
from rlnas.spaces import SearchSpace


@dataclass(frozen=True)
class EditGuideConfig:
    """The settings of guided edits (`learned:NAME:guided`)."""

    temperature: float = 0.05
    """Softmax temperature on the predicted rank (a fraction in [0, 1]): 0.05 makes an edit predicted
    a tenth of the ranks better about 7 times as likely; lower is greedier."""
    ridge: float = 1.0
    """L2 penalty of the regression on standardised features (it has few results to fit early on)."""
    min_results: int = 5
    """Results before the first fit; until then an edit is drawn uniformly."""
    fresh_candidates: int = 24
    """When the policy draws a fresh sample, the guide picks it (as it picks an edit) among this many of
    the space's samples that the run has not queried, as TPE scores 24 candidates; 1 leaves the draw
    to the space's sampler."""
    initial_samples: int = 5
    """Fresh samples a guided run starts with before the policy acts (a random design for the model, as
    TPE's startup trials); the policy starts from their best."""


def cell_features(arch: Cell | Arch, num_ops: int) -> np.ndarray:
    """Vertices per op (by op index), vertices, edges, then edges per (tail kind, head kind), summed over an
    architecture's cells. A vertex's kind is its op index, or for the special vertices, which every cell
    has alike, `num_ops + (-label - 1)`: input, output, sum, second input. The pairs say what the counts
    cannot: whether an op sits on the input, feeds the output, or follows another op."""
    kinds = num_ops - INPUT2
    features = np.zeros(num_ops + 2 + kinds * kinds)
    pairs = features[num_ops + 2 :]
    for cell in arch.cells if isinstance(arch, Arch) else (arch,):
        kind = [op if op >= 0 else num_ops - op - 1 for op in cell.ops]
        for op in cell.ops:
            if op >= 0:
                features[op] += 1
        features[num_ops] += cell.num_vertices
        for tail, row in enumerate(cell.rows):
            features[num_ops + 1] += row.bit_count()
            for head in bits(row):
                pairs[kind[tail] * kinds + kind[head]] += 1
    return features


def ranks(scores: np.ndarray) -> np.ndarray:
    """Each score's fraction of the scores below it, ties counting half (as the episode's observed ranks)."""
    ordered = np.sort(scores)
    return (np.searchsorted(ordered, scores, "left") + np.searchsorted(ordered, scores, "right")) / (2 * len(scores))


class EditGuide:
    """Draws an edit for one run; `choose` reads the run's history, which only grows."""

    def __init__(self, num_ops: int, config: EditGuideConfig | None = None):
        self.num_ops = num_ops
        self.config = config or EditGuideConfig()
        self._features: list[np.ndarray] = []  # of history[0], history[1], ...

    def choose(
        self, history: Sequence[Evaluation], candidates: Mapping[int, Cell | Arch], rng: np.random.Generator
    ) -> int:
        """The key of one of `candidates` (action -> the cell it leads to, each unseen by the run)."""
        actions = list(candidates)
        c = self.config
        if len(history) < c.min_results:
            return actions[int(rng.integers(len(actions)))]
        for result in history[len(self._features) :]:
            self._features.append(cell_features(result.cell, self.num_ops))
        x = np.array(self._features)
        y = ranks(np.array([result.score for result in history]))
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0  # a feature every queried cell shares says nothing
        z = (x - mean) / scale
        weights = np.linalg.solve(z.T @ z + c.ridge * np.eye(z.shape[1]), z.T @ (y - y.mean()))
        candidate_features = np.array([cell_features(candidates[a], self.num_ops) for a in actions])
        predicted = (candidate_features - mean) / scale @ weights
        p = np.exp((predicted - predicted.max()) / c.temperature)
        return actions[int(rng.choice(len(actions), p=p / p.sum()))]

    def choose_sample(self, session: QuerySession, space: SearchSpace, rng: np.random.Generator) -> Cell | None:
        """A fresh sample for the run of `session`, drawn as `choose` draws an edit among `fresh_candidates`
        of the space's samples the run has not queried; None (let the sampler draw) before the first fit
        or when every candidate is known."""
        c = self.config
        if len(session.history) < c.min_results or c.fresh_candidates < 2:
            return None
        samples = (space.sample(rng) for _ in range(c.fresh_candidates))
        unseen = dict(enumerate(cell for cell in samples if not session.seen(cell)))
        return unseen[self.choose(session.history, unseen, rng)] if unseen else None
