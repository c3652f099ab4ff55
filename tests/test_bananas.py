from __future__ import annotations

import numpy as np
import pytest

from rlnas.benchmarks import load_benchmark
from rlnas.errors import ConfigError
from rlnas.predictors import GINConfig, PathConfig
from rlnas.strategies import DESCRIPTIONS, STRATEGIES, make_strategy
from rlnas.strategies.bananas import Bananas, BananasConfig
from rlnas.strategies.baselines import RandomSearch
from rlnas.strategies.runner import Search

#: Small predictors keep the tests fast; the defaults are measured in docs/predictors.md.
FAST_PATH = PathConfig(epochs=20, num_threads=1)


def fast(**settings) -> Bananas:
    return Bananas(config=BananasConfig(predictor_settings=FAST_PATH, **settings))


@pytest.fixture(scope="module")
def cifar100():
    return load_benchmark("nb201-cifar100")


def test_bananas_spends_exactly_the_budget_on_unique_cells_and_is_deterministic(nb201):
    first = fast().run(nb201, 45, np.random.default_rng(11))
    again = fast().run(nb201, 45, np.random.default_rng(11))
    other = fast().run(nb201, 45, np.random.default_rng(12))
    assert len(first) == 45 and len({e.hash for e in first}) == 45
    assert [e.hash for e in first] == [e.hash for e in again]
    assert [e.hash for e in first] != [e.hash for e in other]


def test_bananas_starts_with_the_random_sampler_then_fits_every_refit_every_results(nb201):
    strategy = fast(num_init=10, refit_every=10, top_k=10)
    history = strategy.run(nb201, 50, np.random.default_rng(3))
    random_start = RandomSearch().run(nb201, 10, np.random.default_rng(3))
    assert [e.hash for e in history[:10]] == [e.hash for e in random_start]
    overhead = strategy.overhead()
    assert overhead["fits"] == 4  # before queries 11, 21, 31 and 41
    assert overhead["candidates_ranked"] > 4 * 50
    assert overhead["fit_cpu_seconds"] > 0 and overhead["rank_cpu_seconds"] > 0


def test_without_random_candidates_every_proposal_is_a_neighbour_of_an_earlier_cell(nb201):
    history = fast(num_random=0).run(nb201, 40, np.random.default_rng(5))
    for k, evaluation in enumerate(history[10:], start=10):
        earlier = {n.key for e in history[:k] for n in nb201.space.neighbours(e.cell)}
        assert evaluation.cell.key in earlier


def test_ask_waits_for_results_in_flight_and_refits_when_enough_arrive(cifar100):
    strategy = fast(num_init=6, refit_every=3, top_k=5)
    strategy.start(cifar100.space, np.random.default_rng(0))
    initial = [strategy.ask() for _ in range(6)]
    assert strategy.ask() is None  # no result yet: nothing to fit
    for cell in reversed(initial):  # results may arrive in any order
        strategy.tell(cell, cifar100.evaluate(cell), True)
    queued = [strategy.ask() for _ in range(5)]
    assert all(cell is not None for cell in queued) and strategy.overhead()["fits"] == 1
    assert strategy.ask() is None  # the queue is empty and 5 results are in flight
    for cell in queued[:2]:
        strategy.tell(cell, cifar100.evaluate(cell), True)
    assert strategy.ask() is None  # 2 new results < refit_every
    strategy.tell(queued[2], cifar100.evaluate(queued[2]), True)
    assert strategy.ask() is not None and strategy.overhead()["fits"] == 2
    asked = {c.key for c in initial + queued}
    assert len(asked) == 11


def test_revisits_do_not_count_as_new_results(cifar100):
    strategy = fast(num_init=2, refit_every=2, top_k=1)
    strategy.start(cifar100.space, np.random.default_rng(1))
    first, second = strategy.ask(), strategy.ask()
    strategy.tell(first, cifar100.evaluate(first), True)
    strategy.tell(second, cifar100.evaluate(first), False)  # the runner found `second` known: a revisit
    proposal = strategy.ask()
    assert strategy.overhead()["fits"] == 0  # one unique result: too few to fit, so another random cell
    strategy.tell(proposal, cifar100.evaluate(proposal), True)
    strategy.ask()
    assert strategy.overhead()["fits"] == 1


@pytest.mark.parametrize("acquisition", ["its", "ucb", "ei"])
def test_bananas_beats_random_search_on_nb201_cifar100(acquisition, cifar100):
    """Mean best validation accuracy after 40 queries over 6 seeds (deterministic)."""
    bananas, random = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        bananas.append(max(e.score for e in fast(acquisition=acquisition).run(cifar100, 40, rng)))
        random.append(max(e.score for e in RandomSearch().run(cifar100, 40, np.random.default_rng(seed))))
    assert np.mean(bananas) > np.mean(random)


def test_bananas_with_the_graph_predictor_on_nb101(nb101):
    config = BananasConfig(predictor="gin", predictor_settings=GINConfig(epochs=10, hidden_size=16, num_threads=1))
    strategy = Bananas(config=config)
    history = strategy.run(nb101, 30, np.random.default_rng(0))
    assert len({e.hash for e in history}) == 30 and strategy.guide.predictor.config == config.predictor_settings


def test_settings_are_validated_with_a_named_error():
    with pytest.raises(ConfigError, match="top_k"):
        BananasConfig(top_k=0)
    with pytest.raises(ConfigError, match="unknown acquisition"):
        BananasConfig(acquisition="pi")
    with pytest.raises(ConfigError, match="unknown predictor 'forest'"):
        Bananas("forest")
    with pytest.raises(ConfigError, match="GINConfig"):
        BananasConfig(predictor="gin", predictor_settings=PathConfig())
    with pytest.raises(ConfigError, match="candidates"):
        BananasConfig(mutations_per_parent=0, num_random=0)


def test_bananas_is_registered_with_an_optional_predictor_argument():
    assert "bananas" in STRATEGIES and "bananas" in DESCRIPTIONS
    assert make_strategy("bananas").config.predictor == "path"
    assert make_strategy("bananas:gin").config.predictor == "gin"
    with pytest.raises(ConfigError, match="unknown predictor 'forest'"):
        make_strategy("bananas:forest")


def test_bananas_searches_two_cell_darts_architectures():
    benchmark = load_benchmark("nb301-distilled")
    strategy = fast(num_init=8, top_k=8, refit_every=8)
    history = strategy.run(benchmark, 24, np.random.default_rng(0))
    assert len({benchmark.identity(e.cell) for e in history}) == 24 and strategy.overhead()["fits"] == 2


def test_bananas_under_the_runner_with_three_results_in_flight(nb201):
    """The runner's Search with three evaluations in flight, told oldest first, as a parallel executor does."""
    strategy = fast()
    search = Search(nb201.space, strategy, budget=40, rng=np.random.default_rng(0), benchmark=nb201)
    pending: list = []
    while True:
        while len(pending) < 3 and (cell := search.ask()) is not None:
            pending.append(cell)
        if not pending:
            break
        cell = pending.pop(0)
        search.tell(cell, nb201.lookup(cell, None))
    assert search.stop_reason == "budget" and len(search.history) == 40
    assert strategy.overhead()["fits"] == 3
