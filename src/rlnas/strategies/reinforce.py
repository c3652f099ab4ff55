"""The `reinforce` strategy: Zoph & Le's LSTM controller trained online with REINFORCE.

The algorithm (controller, rollout, invalid-sample policy, update) is in `rlnas.strategies.controller`,
top to bottom; this module holds its hyperparameters, the strategy, and the optional Ray executor.
torch is imported only when a search runs, and Ray only with `executor="ray"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rlnas.benchmarks import Benchmark, Evaluation, QuerySession
from rlnas.cells import Cell
from rlnas.errors import RlnasError
from rlnas.strategies.base import Strategy


@dataclass(frozen=True)
class ReinforceConfig:
    """Every hyperparameter of the controller and its training, in one place."""

    hidden_size: int = 64
    """Width of the LSTM state, the decision embeddings and the anchor attention."""
    init_range: float = 0.1
    """Parameters start uniform in [-init_range, init_range] (Zoph & Le), so the first policy is
    close to uniform: ops equally likely, each NB101 edge with probability about 1/2."""
    learning_rate: float = 0.01
    """Adam step size."""
    batch_size: int = 10
    """Replicas M: valid architectures sampled (and queried) per update."""
    entropy_weight: float = 1e-3
    """Weight of the entropy bonus (the sum of every decision's entropy) in the loss."""
    baseline_decay: float = 0.9
    """Decay of the exponential-moving-average reward baseline, per update."""
    max_attempts: int = 10
    """Draws per replica before giving up on a valid cell; every invalid draw is penalised."""
    invalid_reward: float = 0.0
    """Reward of an invalid draw in the update (such a cell is never queried)."""
    stale_patience: int = 3
    """Batches without a new architecture before the sampling temperature starts to double."""

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_attempts < 1 or self.hidden_size < 1:
            raise RlnasError("batch_size, max_attempts and hidden_size must be at least 1")
        if not 0 <= self.baseline_decay < 1:
            raise RlnasError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")


# ---------------------------------------------------------------------------- parallel queries (Ray)


class _BenchmarkActor:
    """A Ray actor holding one copy of the benchmark."""

    def __init__(self, benchmark: Benchmark):
        self.benchmark = benchmark

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        return self.benchmark.lookup(pruned, rng)


class RayBenchmarkPool(Benchmark):
    """A benchmark whose look-ups run on Ray actors, in parallel (`prefetch_new`) before the session asks.

    The session keeps all the accounting (budget, cache, history) in the driver; `lookup` hands it
    the prefetched result, or looks the cell up on an actor if it was not prefetched. Ray is started
    locally unless `address` names a cluster to join (e.g. "auto" or "ray://host:10001").
    """

    def __init__(self, benchmark: Benchmark, num_workers: int = 2, address: str | None = None):
        try:
            import ray
        except ModuleNotFoundError as exc:
            raise RlnasError("executor='ray' needs Ray: pip install 'ray[default]'") from exc
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        self.inner = benchmark
        self.name, self.space, self.metric = benchmark.name, benchmark.space, benchmark.metric
        self.best_possible = benchmark.best_possible
        shared = ray.put(benchmark)
        actor = ray.remote(num_cpus=0)(_BenchmarkActor)
        self.actors = [actor.remote(shared) for _ in range(max(1, num_workers))]
        self._ready: dict[object, Evaluation] = {}

    def prefetch_new(self, session: QuerySession, cells: Sequence[Cell | None]) -> None:
        """Look up in parallel the valid cells (None is skipped) that `session` has not seen, as many
        as its budget still allows, round robin over the actors; each gets a generator spawned from
        the session's."""
        room = session.budget - session.unique_queries if session.budget is not None else len(cells)
        new: dict[object, Cell] = {}
        for cell in cells:
            if cell is not None and len(new) < room and not session.seen(cell):
                new.setdefault(self.identity(cell), cell)
        if not new:
            return
        children = session.rng.spawn(len(new)) if session.rng is not None else [None] * len(new)
        futures = [
            self.actors[k % len(self.actors)].lookup.remote(cell, child)
            for k, (cell, child) in enumerate(zip(new.values(), children, strict=True))
        ]
        self._ready.update(zip(new, self._ray.get(futures), strict=True))

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        result = self._ready.pop(self.identity(pruned), None)
        if result is None:
            result = self._ray.get(self.actors[0].lookup.remote(pruned, rng))
        return result

    def identity(self, cell: Cell) -> object:
        return self.inner.identity(cell)

    def all_scores(self) -> np.ndarray:
        return self.inner.all_scores()

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []


# ---------------------------------------------------------------------------- the strategy


@dataclass
class Reinforce(Strategy):
    """Zoph & Le's controller trained online with REINFORCE within the query budget.

    `executor` is "local" (in-process, deterministic) or "ray" (queries prefetched in parallel by
    `num_workers` Ray actors; `address` joins a running cluster). After a run, `stats` holds one
    dict per update (mean valid reward, invalid draws, baseline, entropy, temperature, new cells).
    """

    executor: str = "local"
    config: ReinforceConfig = field(default_factory=ReinforceConfig)
    num_workers: int = 2
    address: str | None = None
    stats: list[dict] = field(default_factory=list, init=False, repr=False)
    name = "reinforce"

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise RlnasError(f"unknown executor {self.executor!r} for reinforce; choose local or ray")

    def run(self, benchmark: Benchmark, budget: int, rng: np.random.Generator) -> list[Evaluation]:
        if self.executor == "local":
            return super().run(benchmark, budget, rng)
        pool = RayBenchmarkPool(benchmark, self.num_workers, self.address)
        try:
            return super().run(pool, budget, rng)
        finally:
            pool.close()

    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        try:
            import torch

            from rlnas.strategies.controller import reinforce_search
        except ModuleNotFoundError as exc:
            raise RlnasError("the reinforce strategy needs PyTorch: pip install torch") from exc
        if self.executor == "ray" and not isinstance(session.benchmark, RayBenchmarkPool):
            raise RlnasError("executor='ray' needs the session that Reinforce.run opens on a RayBenchmarkPool")
        threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(1)  # compare runs one strategy per core: no oversubscription
        torch.use_deterministic_algorithms(True)
        try:
            self.stats = reinforce_search(session, rng, self.config)
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(deterministic)
