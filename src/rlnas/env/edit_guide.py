"""Guided edits: which edit of the current cell to query, chosen from a score model of the run's own results.

A general policy chooses the kind of move (an edit, a return to an elite, a fresh sample). Which edit
to make is a different question: on a space it never saw, the edits its network prefers are worse
than random ones (docs/general.md), because what an op is worth differs from space to space and table
to table. `EditGuide` answers it from what this run has observed: a ridge regression of each queried
cell's rank among the run's scores on features every space has (how many vertices carry each op, how
many vertices and edges there are, and, once the run has `pair_min_results` results, how many edges
join each pair of vertex kinds: op to op, input to op, op to output), refitted at every choice; an
unseen edit is then drawn with probability proportional to exp(predicted rank / temperature). Before
`min_results` results it draws uniformly. A fresh sample is picked the same way among a few of the
space's samples and a few mutants of the run's best cells, except for a fraction left to the space's
sampler. The model knows an op only by its index and its worth only from this run's scores, so it
serves any space and op vocabulary, and a table whose scores change changes its choices.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rlnas.benchmarks import Evaluation, QuerySession
from rlnas.cells import INPUT2, Arch, Cell
from rlnas.cells.cell import bits
from rlnas.errors import ConfigError, check_finite
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
    pair_min_results: int = 20
    """Results before the edge-pair features join the model: from fewer, the many pair columns (81 on
    NAS-Bench-201) swamp the op counts that a handful of results can fit."""
    fresh_candidates: int = 24
    """When the policy draws a fresh sample, the guide picks it (as it picks an edit) among this many of
    the space's samples that the run has not queried, as TPE scores 24 candidates, and `fresh_mutants`."""
    fresh_mutants: int = 24
    """Candidates for a fresh sample made by `mutant_edits` random edits of one of the run's
    `mutant_parents` best cells, as BANANAS finds its candidates by mutating its best architectures:
    a restart near the best cells that the policy's climbs from its few elites have not reached."""
    mutant_parents: int = 10
    """The best cells of the run that mutants are made from."""
    mutant_edits: int = 2
    """Random edits that make a mutant: two reach past the one-edit neighbourhoods that the policy's own
    climbs already query."""
    fresh_uniform: float = 1 / 3
    """The fraction of fresh samples left to the space's sampler, unguided, as SMAC and BOHB interleave
    random configurations: a run whose results all lie in one region of a table still samples the
    rest, which a model fitted on that region would never pick (the swapped-halves test)."""
    initial_samples: int = 5
    """Fresh samples a guided run starts with before the policy acts (a random design for the model, as
    TPE's startup trials); the policy starts from their best."""

    def __post_init__(self) -> None:
        check_finite(self)
        if self.temperature <= 0 or self.ridge <= 0:
            raise ConfigError("EditGuideConfig: temperature and ridge must be positive")
        if not 0 <= self.fresh_uniform <= 1:
            raise ConfigError(f"EditGuideConfig.fresh_uniform is a fraction in [0, 1], got {self.fresh_uniform}")
        if self.min_results < 2 or min(self.mutant_parents, self.initial_samples) < 1:
            raise ConfigError("EditGuideConfig: min_results must be at least 2, mutant_parents and initial_samples 1")
        if min(self.pair_min_results, self.fresh_candidates, self.fresh_mutants, self.mutant_edits) < 0:
            raise ConfigError(
                "EditGuideConfig: pair_min_results, fresh_candidates, fresh_mutants and mutant_edits cannot be negative"
            )


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
        columns = None if len(history) >= c.pair_min_results else self.num_ops + 2  # op counts, vertices, edges
        x = np.array(self._features)[:, :columns]
        y = ranks(np.array([result.score for result in history]))
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0  # a feature every queried cell shares says nothing
        z = (x - mean) / scale
        weights = np.linalg.solve(z.T @ z + c.ridge * np.eye(z.shape[1]), z.T @ (y - y.mean()))
        candidate_features = np.array([cell_features(candidates[a], self.num_ops)[:columns] for a in actions])
        predicted = (candidate_features - mean) / scale @ weights
        p = np.exp((predicted - predicted.max()) / c.temperature)
        return actions[int(rng.choice(len(actions), p=p / p.sum()))]

    def choose_sample(self, session: QuerySession, space: SearchSpace, rng: np.random.Generator) -> Cell | None:
        """A fresh sample for the run of `session`, drawn as `choose` draws an edit among the candidates the
        run has not queried (`fresh_candidates` samples and `fresh_mutants`); None (let the sampler draw)
        before the first fit, for a `fresh_uniform` fraction of the calls, or when no candidate is new."""
        c = self.config
        if len(session.history) < c.min_results or rng.random() < c.fresh_uniform:
            return None
        candidates = [space.sample(rng) for _ in range(c.fresh_candidates)]
        parents = heapq.nlargest(c.mutant_parents, session.history, key=lambda result: result.score)
        for _ in range(c.fresh_mutants):
            mutant = parents[int(rng.integers(len(parents)))].cell
            for _ in range(c.mutant_edits):
                mutant = space.mutate(mutant, rng)
            candidates.append(mutant)
        unseen = dict(enumerate(cell for cell in candidates if not session.seen(cell)))
        return unseen[self.choose(session.history, unseen, rng)] if unseen else None
