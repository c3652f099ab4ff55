from __future__ import annotations

import numpy as np
import pytest

from rlnas.errors import RlnasError
from rlnas.strategies import STRATEGIES, make_strategy
from rlnas.strategies.baselines import LocalSearch

BASELINES = ["rs", "rw", "ls", "re"]


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_spend_exactly_the_budget_on_unique_cells_and_are_deterministic(name, nb201):
    first = make_strategy(name).run(nb201, 60, np.random.default_rng(11))
    again = make_strategy(name).run(nb201, 60, np.random.default_rng(11))
    other = make_strategy(name).run(nb201, 60, np.random.default_rng(12))
    assert len(first) == 60 and len({e.hash for e in first}) == 60
    assert [e.hash for e in first] == [e.hash for e in again]
    assert [e.hash for e in first] != [e.hash for e in other]


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_run_on_nb101(name, nb101):
    history = make_strategy(name).run(nb101, 40, np.random.default_rng(0))
    assert len({e.hash for e in history}) == 40


def test_local_search_queries_the_neighbourhood_of_the_best_cell(nb201):
    history = LocalSearch(num_init=5).run(nb201, 29, np.random.default_rng(2))
    best_initial = max(history[:5], key=lambda e: e.score)
    neighbour_keys = {n.key for n in nb201.space.neighbours(best_initial.cell)}
    assert {e.cell.key for e in history[5:29]} == neighbour_keys  # all 24 neighbours, nothing else


def test_regularized_evolution_starts_with_a_random_population(nb201):
    history = make_strategy("re").run(nb201, 40, np.random.default_rng(4))
    random_start = make_strategy("rs").run(nb201, 30, np.random.default_rng(4))
    assert [e.hash for e in history[:30]] == [e.hash for e in random_start]


def test_strategy_registry_and_errors():
    assert set(BASELINES) <= set(STRATEGIES)
    with pytest.raises(RlnasError, match="unknown strategy 'bogus'"):
        make_strategy("bogus")


@pytest.mark.parametrize("name", BASELINES)
def test_baselines_stop_exactly_at_any_budget(name, nb201):
    """Every budget from 1 up, across seeds: a strategy never queries past its budget."""
    for budget in range(1, 80, 3):
        for seed in range(6):
            history = make_strategy(name).run(nb201, budget, np.random.default_rng(seed))
            assert len(history) == budget
