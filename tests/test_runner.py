"""The ask/tell runner: budgets, revisits, the user's own evaluation, resume, stops, and Ray."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rlnas.benchmarks import Evaluation
from rlnas.benchmarks.nb201 import NB201Benchmark
from rlnas.benchmarks.transformed import TransformedScores
from rlnas.cells import Cell
from rlnas.errors import RlnasError
from rlnas.spaces import DAGSpace
from rlnas.strategies import make_strategy
from rlnas.strategies.base import Strategy
from rlnas.strategies.baselines import RandomSearch, RegularizedEvolution
from rlnas.strategies.runner import MAX_REVISIT_STREAK, RayExecutor, Search, run_search


def test_the_users_own_space_and_evaluation_in_a_few_lines():
    space = DAGSpace("mine", ("conv3x3", "conv5x5", "maxpool", "identity"), max_vertices=5, max_edges=6)
    search = Search(space, RegularizedEvolution(population_size=10, tournament_size=3), budget=40,
                    rng=np.random.default_rng(0))  # fmt: skip
    while (cell := search.ask()) is not None:
        search.tell(cell, float(sum(op == 1 for op in cell.ops)) + 0.1 * cell.num_edges, {"edges": cell.num_edges})
    assert len(search.history) == 40 == len({space.identity(e.cell) for e in search.history})
    assert search.stop_reason == "budget"
    assert search.best.score == max(e.score for e in search.history)
    with pytest.raises(RlnasError, match="did not return"):
        search.tell(space.sample(np.random.default_rng(1)), 0.0)


def test_a_seed_serves_as_the_generator(nb201):
    by_seed = run_search(RandomSearch(), nb201, 10, 7)
    by_generator = run_search(RandomSearch(), nb201, 10, np.random.default_rng(7))
    assert [e.hash for e in by_seed.history] == [e.hash for e in by_generator.history]


def test_a_score_that_is_not_finite_is_refused_and_the_cell_can_be_told_again():
    space = DAGSpace("mine", ("conv3x3", "maxpool"), max_vertices=4, max_edges=5)
    search = Search(space, RandomSearch(), budget=5, rng=np.random.default_rng(0))
    cell = search.ask()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(RlnasError, match=r"the score told for an architecture is .*must be finite"):
            search.tell(cell, bad)
    search.tell(cell, 0.5)
    assert search.best.score == 0.5


def test_revisits_are_told_at_once_and_cost_nothing(nb201):
    class Twice(RandomSearch):
        """Asks every cell twice in a row: the second is a free revisit."""

        def start(self, space, rng):
            super().start(space, rng)
            self.last, self.told = None, []

        def ask(self):
            if self.last is None:
                self.last = self.space.sample(self.rng)
                return self.last
            cell, self.last = self.last, None
            return cell

        def tell(self, cell, result, new):
            self.told.append(new)

    strategy = Twice()
    result = run_search(strategy, nb201, 25, np.random.default_rng(0))
    assert len(result.history) == 25
    assert strategy.told[:4] == [True, False, True, False]
    assert result.total_queries >= 49


def test_a_budget_beyond_the_space_is_refused_and_an_exhausted_space_stops(nb201):
    with pytest.raises(RlnasError, match="more than the 15,625 architectures"):
        run_search(RandomSearch(), nb201, 15_626, np.random.default_rng(0))
    # a budget in seconds that is never reached: the search ends when the space is used up
    result = run_search(RandomSearch(), nb201, None, np.random.default_rng(0), budget_seconds=1e12)
    assert result.stop_reason == "exhausted" and len(result.history) == 15_625


def test_a_strategy_that_only_repeats_itself_is_stopped(nb201):
    class Stuck(RandomSearch):
        def ask(self):
            return self.space.sample(np.random.default_rng(7))  # always the same cell

    result = run_search(Stuck(), nb201, 10, np.random.default_rng(0))
    assert result.stop_reason == "stalled" and len(result.history) == 1
    assert result.total_queries == MAX_REVISIT_STREAK + 1


def test_budget_seconds_counts_the_training_time_of_the_queries(nb201, nb101):
    result = run_search(RandomSearch(), nb201, 1000, np.random.default_rng(0), budget_seconds=20_000)
    spent = sum(e.metrics["training_time"] for e in result.history)
    assert (
        result.stop_reason == "budget_seconds" and spent >= 20_000 > spent - result.history[-1].metrics["training_time"]
    )
    assert result.cost == pytest.approx(spent)
    with pytest.raises(RlnasError, match="no training time"):
        run_search(RandomSearch(), nb101, 10, np.random.default_rng(0), budget_seconds=100)


def test_a_killed_search_resumes_from_its_journal_without_evaluating_again(nb201, tmp_path):
    journal = tmp_path / "journal.sqlite"
    whole = run_search(make_strategy("re"), nb201, 60, np.random.default_rng(5))
    first = run_search(make_strategy("re"), nb201, 35, np.random.default_rng(5), journal=journal)
    assert [e.hash for e in first.history] == [e.hash for e in whole.history[:35]]

    class Counting(NB201Benchmark):
        lookups = 0

        def lookup(self, pruned, rng):
            Counting.lookups += 1
            return super().lookup(pruned, rng)

    resumed = run_search(make_strategy("re"), Counting("cifar10"), 60, np.random.default_rng(5), journal=journal)
    assert [(e.hash, e.score) for e in resumed.history] == [(e.hash, e.score) for e in whole.history]
    assert Counting.lookups == 60 - 35  # the journal answered the first 35
    assert sqlite3.connect(journal).execute("SELECT COUNT(*) FROM results").fetchone()[0] == 60


def test_a_journal_replays_only_into_a_search_of_its_benchmark(nb201, tmp_path):
    journal = tmp_path / "journal.sqlite"
    run_search(make_strategy("re"), nb201, 10, np.random.default_rng(5), journal=journal)
    with pytest.raises(RlnasError, match="holds results of nb201-cifar10, not nb201-cifar100"):
        run_search(make_strategy("re"), NB201Benchmark("cifar100"), 10, np.random.default_rng(5), journal=journal)
    assert sqlite3.connect(journal).execute("SELECT COUNT(*) FROM results").fetchone()[0] == 10


def test_a_corrupt_journal_is_one_line(nb201, tmp_path):
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RlnasError, match="corrupt"):
        run_search(RandomSearch(), nb201, 5, np.random.default_rng(0), journal=journal)


class DiesOnce(NB201Benchmark):
    """Kills the worker process holding it on its first look-up after `marker` appears."""

    def __init__(self, marker: Path):
        super().__init__("cifar10")
        self.marker = marker

    def lookup(self, pruned: Cell, rng) -> Evaluation:
        if self.marker.exists():
            self.marker.unlink()
            os._exit(1)  # a worker that dies mid-query
        return super().lookup(pruned, rng)


def test_ray_keeps_workers_busy_and_survives_a_dead_worker(tmp_path):
    import ray  # CI installs the ray extra: a missing Ray is a failure, not a skip

    here = str(Path(__file__).parent)  # so that Ray's workers can unpickle DiesOnce
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": here}})
    try:
        marker = tmp_path / "die"
        benchmark = DiesOnce(marker)
        local = run_search(RandomSearch(), benchmark, 40, np.random.default_rng(3))
        marker.touch()
        seen_in_flight = []
        remote = run_search(
            RandomSearch(),
            benchmark,
            40,
            np.random.default_rng(3),
            executor=RayExecutor(2),
            on_result=lambda search, result: seen_in_flight.append(search.in_flight),
        )
        assert not marker.exists()  # a worker died ...
        assert sorted(e.hash for e in remote.history) == sorted(e.hash for e in local.history)  # ... nothing lost
        assert max(seen_in_flight) >= 1  # several look-ups were in flight at once
    finally:
        ray.shutdown()


def test_ray_refuses_more_workers_than_cpus_and_compare_writes_a_relative_out_here(nb201, tmp_path, monkeypatch):
    import ray

    from rlnas.experiments.compare import CompareConfig, run_comparison

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(RlnasError, match="--workers 3 needs as many CPUs and Ray has 2"):
            run_search(RandomSearch(), nb201, 10, np.random.default_rng(0), executor=RayExecutor(3))
        config = CompareConfig("nb201-cifar10", ("rs", "re"), 12, 2, 0)
        run_comparison(config, tmp_path / "local", workers=1)
        monkeypatch.chdir(tmp_path)  # Ray's workers started elsewhere: the relative --out is this folder's
        run_comparison(config, Path("on-ray"), workers=1, executor="ray")
        assert (tmp_path / "on-ray" / "results.csv").read_text() == (tmp_path / "local" / "results.csv").read_text()
    finally:
        ray.shutdown()


def test_every_strategy_implements_ask_and_tell():
    for name in ("rs", "rw", "ls", "re", "reinforce"):
        strategy = make_strategy(name)
        assert isinstance(strategy, Strategy)
        assert type(strategy).ask is not Strategy.ask and type(strategy).tell is not Strategy.tell


def test_a_search_takes_a_seed_or_a_generator_and_needs_one():
    space = DAGSpace("mine", ("conv3x3", "maxpool"), max_vertices=5, max_edges=6)

    def asked(rng) -> list:
        search = Search(space, RegularizedEvolution(population_size=5, tournament_size=2), 12, rng)
        while (cell := search.ask()) is not None:
            search.tell(cell, float(cell.num_edges))
        return [space.identity(e.cell) for e in search.history]

    assert asked(7) == asked(np.random.default_rng(7)) != asked(8)
    with pytest.raises(TypeError):
        Search(space, RegularizedEvolution(), 12)  # no unseeded default


def test_a_strategy_that_asks_for_nothing_with_nothing_in_flight_has_finished(nb201):
    class FiveOnly(RandomSearch):
        def start(self, space, rng):
            super().start(space, rng)
            self.left = 5

        def ask(self):
            self.left -= 1
            return self.space.sample(self.rng) if self.left >= 0 else None

    result = run_search(FiveOnly(), nb201, 50, np.random.default_rng(0))
    assert result.stop_reason == "strategy_finished" and len(result.history) == 5


def test_a_lookup_that_returns_no_evaluation_is_one_line(nb201):
    class BareFloat(NB201Benchmark):
        def lookup(self, pruned, rng):
            return 0.5

    with pytest.raises(RlnasError, match="nb201-cifar10's lookup returned a float, not an Evaluation"):
        run_search(make_strategy("rs"), BareFloat("cifar10"), 5, 0)
    search = Search(nb201.space, make_strategy("rs"), 5, 0)
    cell = search.ask()
    with pytest.raises(RlnasError, match="takes an Evaluation or a score, not a str"):
        search.tell(cell, "0.5")
    assert search.tell(cell, np.float32(0.5)).score == 0.5  # numpy scores are scores


def test_a_journal_replays_only_the_same_scores(nb201, tmp_path):
    journal = tmp_path / "journal.sqlite"
    run_search(make_strategy("re"), nb201, 10, 5, journal=journal)
    halved = TransformedScores(nb201, lambda scores: scores / 2, name=nb201.name)
    with pytest.raises(RlnasError, match="when its scores were others"):
        run_search(make_strategy("re"), halved, 10, 5, journal=journal)
    again = run_search(make_strategy("re"), nb201, 12, 5, journal=journal)
    assert len(again.history) == 12
