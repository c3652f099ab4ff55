"""The search loop: the runner owns it, a strategy proposes cells and is told their results.

`Search` is one run's bookkeeping, usable on its own with the user's evaluation code:

    search = Search(space, RegularizedEvolution(), budget=50, rng=np.random.default_rng(0))
    while (cell := search.ask()) is not None:
        search.tell(cell, my_accuracy(cell))

It validates and prunes what the strategy proposes, answers revisits at once from the run's cache
(free: budgets count unique architectures), keeps the budget (unique cells, or the summed cost of
the queries where the benchmark reports one), and stops a strategy that can find nothing new.
`run_search` drives a `Search` against a benchmark through an executor: `InProcessExecutor`
(one look-up at a time, deterministic) or `RayExecutor` (Ray actors holding the benchmark, several
look-ups in flight, a dead actor restarted and its look-up retried). With `journal`, every result
is appended to an SQLite file as it arrives; a killed search run again with the same seed replays
the journal instead of evaluating again, so nothing evaluated is lost or paid twice.
"""

from __future__ import annotations

import math
import numbers
import pickle
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rlnas.benchmarks import Benchmark, Evaluation, ToldResults, scores_digest
from rlnas.cells import Arch, Cell
from rlnas.errors import RlnasError
from rlnas.ray_cluster import start_ray
from rlnas.spaces import SearchSpace

#: A strategy that proposes only known architectures this many times in a row (or 20 times as many
#: as it has found, whichever is more: random search needs about N asks to find the last cell of N)
#: has run dry.
MAX_REVISIT_STREAK = 10_000


class AskTell(Protocol):
    """What the runner needs of a strategy (`rlnas.strategies.Strategy` implements it)."""

    name: str
    budget: int | None

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None: ...

    def ask(self) -> Cell | None: ...

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None: ...


@dataclass
class _Pending:
    """A new architecture being evaluated, and every proposal of it waiting for the result."""

    pruned: Cell
    asked: Cell
    also_asked: list[Cell] = field(default_factory=list)


class Search:
    """One search run: a strategy, a budget and the run's cache; evaluation is the caller's."""

    def __init__(
        self,
        space: SearchSpace,
        strategy: AskTell,
        budget: int | None,
        rng: np.random.Generator | int,
        *,
        benchmark: Benchmark | None = None,
        budget_seconds: float | None = None,
        space_size: int | None = None,
    ):
        if budget is not None and budget < 1:
            raise RlnasError(f"the budget must be at least 1 architecture, got {budget}")
        self.benchmark = benchmark if benchmark is not None else ToldResults(space)
        self.cost_metric = check_budget_seconds(self.benchmark, budget_seconds)
        self.session = self.benchmark.session(budget)
        self.strategy = strategy
        self.budget_seconds = budget_seconds
        self.space_size = space_size
        self.cost = 0.0
        self.stop_reason: str | None = None
        self._pending: dict[object, _Pending] = {}
        self._revisit_streak = 0
        strategy.budget = budget
        strategy.start(space, np.random.default_rng(rng))  # a seed, or the generator itself

    # ------------------------------------------------------------------ state
    @property
    def history(self) -> list[Evaluation]:
        """The unique architectures evaluated so far, in the order their results arrived."""
        return self.session.history

    @property
    def best(self) -> Evaluation | None:
        return self.session.best

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def _room(self) -> bool:
        """Whether one more new architecture may be asked for; sets `stop_reason` when not."""
        started = len(self.session.history) + len(self._pending)
        if self.session.budget is not None and started >= self.session.budget:
            self.stop_reason = "budget"
        elif self.budget_seconds is not None and self.cost >= self.budget_seconds:
            self.stop_reason = "budget_seconds"
        elif self.space_size is not None and started >= self.space_size:
            self.stop_reason = "exhausted"
        else:
            return True
        return False

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> Cell | None:
        """The next new architecture (pruned) to evaluate, or None when the strategy waits for
        results in flight or the search is over (`stop_reason` says why). A strategy that asks for nothing
        while nothing is in flight has finished: no result can arrive to change its mind."""
        while self.stop_reason is None and self._room():
            cell = self.strategy.ask()
            if cell is None:
                if not self._pending:
                    self.stop_reason = "strategy_finished"
                return None
            if not isinstance(cell, Cell | Arch):
                name = getattr(self.strategy, "name", type(self.strategy).__name__)
                raise RlnasError(f"the strategy {name}'s ask() returned a {type(cell).__name__}, not a cell or None")
            pruned, identity, known = self.session.find(cell)
            if known is not None:
                self.strategy.tell(cell, known, False)
                self._revisit_streak += 1
                if self._revisit_streak >= max(MAX_REVISIT_STREAK, 20 * len(self.session.history)):
                    self.stop_reason = "stalled"
                continue
            if identity in self._pending:
                self._pending[identity].also_asked.append(cell)
                continue
            self._revisit_streak = 0
            self._pending[identity] = _Pending(pruned, cell)
            return pruned
        return None

    def tell(self, cell: Cell, result: Evaluation | float, metrics: dict[str, float] | None = None) -> Evaluation:
        """Record the result of a cell `ask` returned: an `Evaluation`, or a score (higher is
        better) with optional extra metrics. Returns the recorded evaluation."""
        identity = self.benchmark.identity(cell)
        if identity not in self._pending:
            raise RlnasError("tell() got a cell that ask() did not return (or that was told already)")
        if not isinstance(self.benchmark, ToldResults) and not isinstance(result, Evaluation):
            raise RlnasError(
                f"{self.benchmark.name}'s lookup returned a {type(result).__name__}, not an Evaluation; "
                "return Evaluation(pruned, hash, score, metrics)"
            )
        if not isinstance(result, Evaluation | numbers.Real):
            raise RlnasError(f"tell() takes an Evaluation or a score, not a {type(result).__name__}")
        score = result.score if isinstance(result, Evaluation) else float(result)
        if not math.isfinite(score):  # a NaN would stay the best found, and no later score could beat it
            source = "the score told" if isinstance(self.benchmark, ToldResults) else f"{self.benchmark.name}'s score"
            raise RlnasError(
                f"{source} for an architecture is {score}; scores must be finite "
                "(score a failed one the worst you accept)"
            )
        pending = self._pending.pop(identity)
        if not isinstance(result, Evaluation):
            key = identity if isinstance(identity, int) else hash(identity)
            result = Evaluation(pending.pruned, f"{key & (2**64 - 1):016x}", score, {"score": score, **(metrics or {})})
        self.session.record(pending.asked, identity, result)
        if self.cost_metric is not None:
            self.cost += float(result.metrics.get(self.cost_metric, 0.0))
        self.strategy.tell(pending.asked, result, True)
        for cell_again in pending.also_asked:
            self.strategy.tell(cell_again, result, False)
        return result


# ---------------------------------------------------------------------------- executors


class InProcessExecutor:
    """Looks each cell up at once in this process: one at a time, deterministic for a seed."""

    capacity = 1

    def open(self, benchmark: Benchmark) -> None:
        self.benchmark = benchmark
        self._done: list[tuple[Cell, Evaluation]] = []

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, cell: Cell, rng: np.random.Generator) -> None:
        self._done.append((cell, self.benchmark.lookup(cell, rng)))

    def wait(self) -> list[tuple[Cell, Evaluation]]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        self._done = []


class _BenchmarkActor:
    """A Ray actor holding one copy of the benchmark."""

    def __init__(self, benchmark: Benchmark):
        self.benchmark = benchmark

    def lookup(self, cell: Cell, rng: np.random.Generator) -> Evaluation:
        return self.benchmark.lookup(cell, rng)


class RayExecutor:
    """Look-ups on `workers` Ray actors (one CPU each, and a GPU each when the cluster has enough),
    several in flight.

    An actor that dies is restarted by Ray and its look-up retried (`max_retries` times), so a lost
    worker costs time, not results. Joins the cluster at `address`, or starts Ray locally (and
    shuts it down again on `close`) when none is running.
    """

    def __init__(self, workers: int = 2, address: str | None = None, max_retries: int = 3):
        if workers < 1:
            raise RlnasError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.address = address
        self.max_retries = max_retries
        self.capacity = workers

    def open(self, benchmark: Benchmark) -> None:
        ray, self._started_ray = start_ray(self.address)
        self._ray = ray
        cpus = ray.cluster_resources().get("CPU", 0.0)
        if cpus < self.workers:  # an actor that asks for a CPU the cluster lacks would wait forever
            self.close()
            raise RlnasError(
                f"--workers {self.workers} needs as many CPUs and Ray has {cpus:g}; give --workers {cpus:g} or fewer"
            )
        gpus = ray.cluster_resources().get("GPU", 0.0)  # a GPU per worker where there are enough, else a share
        actor = ray.remote(
            num_cpus=1, num_gpus=min(1.0, gpus / self.workers), max_restarts=-1, max_task_retries=self.max_retries
        )(_BenchmarkActor)
        self._shared = ray.put(benchmark)  # kept referenced: a restarted actor is built from it again
        self.actors = [actor.remote(self._shared) for _ in range(self.workers)]
        self._pending: dict[object, tuple[Cell, int]] = {}
        self._load = [0] * self.workers

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, cell: Cell, rng: np.random.Generator) -> None:
        k = int(np.argmin(self._load))
        self._pending[self.actors[k].lookup.remote(cell, rng)] = (cell, k)
        self._load[k] += 1

    def wait(self) -> list[tuple[Cell, Evaluation]]:
        ready, _ = self._ray.wait(list(self._pending), num_returns=1)
        done = []
        for ref in ready:
            cell, k = self._pending.pop(ref)
            self._load[k] -= 1
            done.append((cell, self._ray.get(ref)))
        return done

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            self._ray.kill(actor)
        self.actors = []
        if getattr(self, "_started_ray", False):
            self._ray.shutdown()


class Executor(Protocol):
    capacity: int

    def open(self, benchmark: Benchmark) -> None: ...

    @property
    def in_flight(self) -> int: ...

    def submit(self, cell: Cell, rng: np.random.Generator) -> None: ...

    def wait(self) -> list[tuple[Cell, Evaluation]]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------- the journal


class Journal:
    """Every result of one search, appended to SQLite as it arrives (it survives a kill -9), with the name of
    the benchmark it came from and, for a table, the digest of its scores (`scores_digest`): a journal replays
    only into a search of the same benchmark, on the same scores."""

    def __init__(self, path: Path, benchmark: Benchmark):
        self.path = Path(path)
        digest = scores_digest(benchmark) or ""
        try:
            self._db = sqlite3.connect(self.path)
            with self._db:
                self._db.execute("CREATE TABLE IF NOT EXISTS results (seq INTEGER PRIMARY KEY, evaluation BLOB)")
                self._db.execute("CREATE TABLE IF NOT EXISTS benchmark (name TEXT)")
                self._db.execute("CREATE TABLE IF NOT EXISTS scores (digest TEXT)")  # not in journals before it
                names = [row[0] for row in self._db.execute("SELECT name FROM benchmark")]
                if not names:
                    self._db.execute("INSERT INTO benchmark VALUES (?)", (benchmark.name,))
                digests = [row[0] for row in self._db.execute("SELECT digest FROM scores")]
                if not digests:
                    self._db.execute("INSERT INTO scores VALUES (?)", (digest,))
            rows = self._db.execute("SELECT evaluation FROM results ORDER BY seq").fetchall()
            known = [pickle.loads(row[0]) for row in rows]
        except (sqlite3.Error, pickle.UnpicklingError, EOFError, AttributeError) as exc:
            raise RlnasError(f"the search journal {self.path} is corrupt ({exc}); move it away to start again") from exc
        if names and names[0] != benchmark.name:
            self._db.close()
            raise RlnasError(
                f"the search journal {self.path} holds results of {names[0]}, not {benchmark.name}; "
                "give this search another journal (--out)"
            )
        if digests and digests[0] != digest:
            self._db.close()
            raise RlnasError(
                f"the search journal {self.path} holds results of {benchmark.name} when its scores were others "
                "(the table changed since); give this search another journal (--out)"
            )
        self.known = {benchmark.identity(result.cell): result for result in known}

    def append(self, result: Evaluation) -> None:
        with self._db:
            self._db.execute("INSERT INTO results (evaluation) VALUES (?)", (pickle.dumps(result),))

    def close(self) -> None:
        self._db.close()


# ---------------------------------------------------------------------------- the loop


@dataclass
class SearchResult:
    history: list[Evaluation]
    """Unique architectures in the order their results arrived."""
    total_queries: int
    """Every proposal, free revisits included."""
    cost: float
    """Summed cost (the benchmark's `cost_metric`, seconds of training) of the unique queries."""
    stop_reason: str
    """budget, budget_seconds, exhausted (every architecture of the space), stalled (the strategy only
    proposes what it has seen) or strategy_finished (it asked for nothing with nothing in flight)."""

    @property
    def best(self) -> Evaluation | None:
        return max(self.history, key=lambda e: e.score, default=None)


def no_proposal(strategy: AskTell) -> RlnasError:
    """The error of a strategy whose first ask() is None with nothing in flight: it cannot search."""
    name = getattr(strategy, "name", type(strategy).__name__)
    return RlnasError(
        f"the strategy {name} proposed no architecture: its first ask() returned None, with nothing in flight"
    )


def check_budget_seconds(benchmark: Benchmark, budget_seconds: float | None) -> str | None:
    """The benchmark's cost metric; one line when a budget in seconds is asked of one that reports no time."""
    cost_metric = getattr(benchmark, "cost_metric", None)
    if budget_seconds is not None and cost_metric is None:
        raise RlnasError(f"{benchmark.name} reports no training time, so it has no budget in seconds; use --budget")
    return cost_metric


def space_size(benchmark: Benchmark) -> int | None:
    """The number of architectures a tabular benchmark holds; None when unknown."""
    try:
        return len(benchmark.all_scores())
    except RlnasError:
        return None


def run_search(
    strategy: AskTell,
    benchmark: Benchmark,
    budget: int | None,
    rng: np.random.Generator | int,
    *,
    budget_seconds: float | None = None,
    executor: Executor | None = None,
    journal: Path | None = None,
    on_result: Callable[[Search, Evaluation], None] | None = None,
) -> SearchResult:
    """Run `strategy` on `benchmark` until the budget is spent or nothing new can be found.

    `rng` (a generator, or a seed for one) is split into the strategy's generator and the benchmark's; each
    look-up gets its own child generator (spawned in query order), so a replayed journal leaves the rest
    unchanged.
    """
    if budget is None and budget_seconds is None:
        raise RlnasError("give a budget: a number of architectures (--budget) or seconds (--budget-seconds)")
    size = space_size(benchmark)
    if budget is not None and size is not None and budget > size:
        raise RlnasError(f"--budget {budget} is more than the {size:,} architectures of {benchmark.name}; lower it")
    benchmark_rng, search_rng = np.random.default_rng(rng).spawn(2)
    search = Search(
        benchmark.space,
        strategy,
        budget,
        search_rng,
        benchmark=benchmark,
        budget_seconds=budget_seconds,
        space_size=size,
    )
    executor = executor if executor is not None else InProcessExecutor()
    log = Journal(journal, benchmark) if journal is not None else None
    executor.open(benchmark)
    try:
        while True:
            replayed = []
            while executor.in_flight < executor.capacity and (cell := search.ask()) is not None:
                query_rng = benchmark_rng.spawn(1)[0]
                known = log.known.get(benchmark.identity(cell)) if log is not None else None
                if known is not None:
                    replayed.append((cell, known))
                    break  # tell it before asking more, exactly as the first run did
                executor.submit(cell, query_rng)
            if replayed:
                done = replayed
            elif executor.in_flight:
                done = executor.wait()
            else:
                break
            for cell, result in done:
                recorded = search.tell(cell, result)
                if log is not None and not replayed:
                    log.append(recorded)
                if on_result is not None:
                    on_result(search, recorded)
    finally:
        executor.close()
        if log is not None:
            log.close()
    if not search.history:
        raise no_proposal(strategy)
    return SearchResult(list(search.history), search.session.total_queries, search.cost, search.stop_reason or "budget")
