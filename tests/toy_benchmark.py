"""A hand-made benchmark on a DAG space of up to 12 vertices, for structure tests of the agent code.

Its scores are not a benchmark of anything (tests of real behaviour use NB101 and NB201); it exists
to show that the environment and the Q-network assume no particular cell size.
"""

from __future__ import annotations

import numpy as np

from rlnas.benchmarks import Benchmark, Evaluation
from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.spaces import DAGSpace


class ChainSpace(DAGSpace):
    """A DAG space of up to 12 vertices whose sampler is a cheap random chain with a skip edge."""

    def sample(self, rng: np.random.Generator) -> Cell:
        n = int(rng.integers(3, 7))
        rows = [1 << (i + 1) for i in range(n - 1)] + [0]
        rows[0] |= 1 << (n - 1)
        ops = (INPUT, *(int(o) for o in rng.integers(0, len(self.op_names), size=n - 2)), OUTPUT)
        return Cell(tuple(rows), ops)


class ToyBenchmark(Benchmark):
    """A hand-made estimator for structure tests only: the score grows with the number of op-1 vertices."""

    name = "toy"
    metric = "toy_accuracy"
    best_possible = 1.0

    def __init__(self, max_vertices: int = 12):
        self.space = ChainSpace("chain", ("a", "b", "c"), max_vertices=max_vertices, max_edges=2 * max_vertices)

    def lookup(self, pruned: Cell, rng):
        score = 0.5 + 0.04 * sum(1 for o in pruned.ops if o == 1)
        return Evaluation(pruned, str(pruned.key), score, {"toy_accuracy": score})

    def all_scores(self) -> np.ndarray:
        return np.array([0.5, 1.0])
