"""`agent+predictor:NAME`: a general policy whose best actions a performance predictor screens."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlnas.agents.general_policy import random_policy
from rlnas.env.search_episode import EpisodeConfig
from rlnas.errors import CheckpointError, ConfigError, RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.predictors import GINConfig, PathConfig
from rlnas.strategies import DESCRIPTIONS, TAKES_ARGUMENT, make_strategy
from rlnas.strategies.agent_predictor import AgentPredictorConfig, AgentPredictorSearch
from rlnas.strategies.learned import LearnedSearch
from rlnas.strategies.runner import run_search

#: Small sizes keep the tests fast (as in tests/test_search_episode.py); a small predictor too.
SMALL = EpisodeConfig(num_elites=2, recent_edits=3, step_cap=2.0)
TINY_NETWORK = {"d_model": 16, "num_layers": 1, "num_heads": 2, "ff_dim": 32, "head_dim": 16}
FAST_PATH = PathConfig(epochs=20, num_threads=1)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def policy():
    return random_policy(SMALL, seed=0, **TINY_NETWORK)


def guided(policy, **settings) -> AgentPredictorSearch:
    return AgentPredictorSearch(policy, config=AgentPredictorConfig(predictor_settings=FAST_PATH, **settings))


def hashes(result) -> list[str]:
    return [e.hash for e in result.history]


def test_it_spends_the_budget_on_the_runner_refits_and_is_deterministic(nb201, policy):
    strategy = guided(policy, min_train=10, refit_every=10)
    result = run_search(strategy, nb201, 45, np.random.default_rng(3))
    assert result.stop_reason == "budget" and len(result.history) == 45 == len(set(hashes(result)))
    overhead = strategy.overhead()
    assert overhead["fits"] == 4  # on 10, 20, 30 and 40 results
    assert overhead["steps_screened"] > 20 and overhead["candidates_ranked"] > overhead["steps_screened"]
    assert overhead["fit_cpu_seconds"] > 0 and overhead["rank_cpu_seconds"] > 0
    again = guided(policy, min_train=10, refit_every=10)
    assert hashes(run_search(again, nb201, 45, np.random.default_rng(3))) == hashes(result)
    assert {k: v for k, v in again.overhead().items() if "seconds" not in k} == {
        k: v for k, v in overhead.items() if "seconds" not in k
    }
    other = run_search(guided(policy), nb201, 45, np.random.default_rng(4))
    assert hashes(other) != hashes(result)


def test_the_policy_acts_alone_until_min_train_then_the_predictor_changes_the_cells(nb201, policy):
    for seed in range(3):
        alone = hashes(run_search(LearnedSearch(policy), nb201, 40, np.random.default_rng(seed)))
        strategy = guided(policy, min_train=12)
        screened = hashes(run_search(strategy, nb201, 40, np.random.default_rng(seed)))
        assert screened[:12] == alone[:12]
        assert screened[12:] != alone[12:]
        assert strategy.overhead()["policy_overruled"] > 0


class Recording(AgentPredictorSearch):
    """Records where each chosen action stands in the policy's order, and whether its cell was new."""

    def start(self, space, rng):
        super().start(space, rng)
        self.choices: list[tuple[int, bool, bool]] = []

    def choose(self, obs):
        action = super().choose(obs)
        q = self.policy.q_values(obs)
        position = int(np.flatnonzero(np.argsort(-q, kind="stable") == action)[0])
        screening = len(self.session.history) >= self.config.min_train
        new = not self.session.seen(self.env.propose(action))
        self.choices.append((position, screening, new or position == 0))
        return action


def test_every_choice_is_one_of_the_policys_best_actions_and_queries_an_unseen_cell(nb201, policy):
    strategy = Recording(policy, config=AgentPredictorConfig(num_candidates=4, predictor_settings=FAST_PATH))
    run_search(strategy, nb201, 40, np.random.default_rng(1))
    screened = [(position, ok) for position, screening, ok in strategy.choices if screening]
    assert all(position == 0 for position, screening, _ in strategy.choices if not screening)
    assert screened and all(position < 4 and ok for position, ok in screened)
    assert any(position > 0 for position, _ in screened)


def test_the_graph_predictor_and_ucb(nb201, policy):
    config = AgentPredictorConfig(
        predictor="gin", acquisition="ucb", predictor_settings=GINConfig(epochs=10, hidden_size=16, num_threads=1)
    )
    strategy = AgentPredictorSearch(policy, config=config)
    result = run_search(strategy, nb201, 25, np.random.default_rng(0))
    assert len(set(hashes(result))) == 25 and strategy.overhead()["fits"] >= 1
    assert strategy.guide.predictor.config == config.predictor_settings


def trained_on_cifar10(path):
    """A random policy saved as if trained on nb201-cifar10."""
    policy = random_policy(SMALL, seed=0, **TINY_NETWORK)
    policy.trained_on = [{"benchmark": "nb201-cifar10", "budget": [20, 100]}]
    policy.save(path)
    return policy


def test_the_spec_names_the_policy_and_optionally_the_predictor(tmp_path):
    policy = trained_on_cifar10(tmp_path / "p.pt")
    plain = make_strategy(f"agent+predictor:{tmp_path / 'p.pt'}")
    assert isinstance(plain, AgentPredictorSearch) and plain.config.predictor == "path"
    assert plain.trained_on == ["nb201-cifar10"] and plain.fingerprint == policy.fingerprint
    assert make_strategy(f"agent+predictor:{tmp_path / 'p.pt'}:gin").config.predictor == "gin"
    assert "agent+predictor" in DESCRIPTIONS and "agent+predictor" in TAKES_ARGUMENT


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("agent+predictor", RlnasError, "needs an argument"),
        ("agent+predictor:nowhere.pt", CheckpointError, "no general policy at nowhere.pt"),
        ("agent+predictor:nowhere.pt:gni", ConfigError, "'gni' is no predictor"),
    ],
)
def test_a_bad_spec_is_one_line(spec, error, message):
    with pytest.raises(error, match=message) as caught:
        make_strategy(spec)
    assert "\n" not in str(caught.value)


def test_settings_are_validated_with_a_named_error(policy):
    for settings, name in [
        ({"num_candidates": 0}, "num_candidates"),
        ({"refit_every": 0}, "refit_every"),
        ({"min_train": 1}, "min_train"),
        ({"acquisition": "pi"}, "acquisition"),
        ({"predictor": "gin", "predictor_settings": FAST_PATH}, "GINConfig"),
    ]:
        with pytest.raises(ConfigError, match=name):
            AgentPredictorConfig(**settings)
    with pytest.raises(ConfigError, match="needs a general policy"):
        AgentPredictorSearch()


def test_compare_labels_its_training_benchmark_and_sums_its_overhead(tmp_path, data_path):
    trained_on_cifar10(tmp_path / "p.pt")
    specs = (f"agent+predictor:{tmp_path / 'p.pt'}", "rs")
    for benchmark, seen in [("nb201-cifar10", True), ("nb201-cifar100", False)]:
        config = CompareConfig(benchmark, specs, 15, 2, 1000)
        summary = run_comparison(config, tmp_path / benchmark, str(data_path))
        entry = summary["strategies"][specs[0]]
        assert entry["in_distribution"] is seen and entry["trained_on"] == ["nb201-cifar10"]
        assert entry["overhead_total"]["fits"] >= 2 and not summary["strategies"]["rs"]["in_distribution"]
        assert json.loads((tmp_path / benchmark / "summary.json").read_text())["strategies"][specs[0]] == entry
