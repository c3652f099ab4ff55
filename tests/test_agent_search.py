from __future__ import annotations

import numpy as np
import pytest

from rlnas.agents import load_policy
from rlnas.agents.apex import RunSpec, train
from rlnas.errors import CheckpointError, RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.strategies import make_strategy
from rlnas.strategies.agent import AgentSearch
from rlnas.strategies.runner import run_search
from tests.test_apex import tiny_config


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory, nb201):
    folder = tmp_path_factory.mktemp("policy")
    train(
        RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=300)), folder, benchmark=nb201, tensorboard=False
    )
    return folder


def test_agent_spends_exactly_the_budget_and_is_deterministic(tiny_policy, nb201):
    first = AgentSearch(tiny_policy).run(nb201, 70, np.random.default_rng(3))
    again = make_strategy(f"agent:{tiny_policy}").run(nb201, 70, np.random.default_rng(3))
    other = AgentSearch(tiny_policy).run(nb201, 70, np.random.default_rng(4))
    assert len({e.hash for e in first}) == 70
    assert [e.hash for e in first] == [e.hash for e in again] != [e.hash for e in other]


def test_agent_walks_to_unseen_neighbours_and_restarts_only_when_stuck(tiny_policy, nb201):
    result = run_search(AgentSearch(tiny_policy), nb201, 120, np.random.default_rng(0))
    history = result.history
    steps = [nb201.space.neighbours(a.cell) for a in history[:-1]]
    walked = sum(b.cell.key in {n.key for n in ns} for ns, b in zip(steps, history[1:], strict=True))
    assert walked >= 100  # almost every query is an edit of the previous cell, not a fresh sample
    # it never steps back to a seen cell: the only repeats are the free re-anchoring at each horizon
    horizon = load_policy(tiny_policy).env_config["horizon"]
    assert result.total_queries - len(history) <= len(history) // horizon + 1


def test_agent_takes_its_greedy_action_when_that_cell_is_new(tiny_policy, nb201):
    policy = load_policy(tiny_policy)
    env = policy.make_env(nb201)
    session = nb201.session()
    obs, _ = env.reset(seed=0, options={"session": session})
    greedy = policy.act(obs)
    target = env.action_targets()[greedy]
    assert not session.seen(target)
    assert len(AgentSearch(policy).run(nb201, 2, np.random.default_rng(0))) == 2


def test_policies_refuse_a_space_they_were_not_trained_on(tiny_policy, nb101):
    with pytest.raises(CheckpointError, match="trained on the nb201 space"):
        AgentSearch(tiny_policy).run(nb101, 10, np.random.default_rng(0))
    with pytest.raises(RlnasError, match="agent:DIR"):
        make_strategy("agent")
    with pytest.raises(CheckpointError, match="no policy at"):
        load_policy("no-such-policy")


def test_comparison_refuses_the_training_seed(tiny_policy, tmp_path):
    with pytest.raises(RlnasError, match="training seed"):
        run_comparison(CompareConfig("nb201-cifar10", (f"agent:{tiny_policy}",), 5, 1, seed=0), tmp_path)


def test_agent_in_a_comparison(tiny_policy, tmp_path):
    config = CompareConfig("nb201-cifar10", (f"agent:{tiny_policy}", "rs"), budget=15, runs=2, seed=1000)
    summary = run_comparison(config, tmp_path, workers=2)
    assert set(summary["strategies"]) == {f"agent:{tiny_policy}", "rs"}
    assert (tmp_path / "results.csv").read_text().count("agent:") == 2 * 15


def test_results_on_the_training_benchmark_are_marked_in_distribution(tiny_policy, tmp_path):
    config = CompareConfig("nb201-cifar10", (f"agent:{tiny_policy}", "rs"), budget=5, runs=1, seed=1000)
    summary = run_comparison(config, tmp_path)
    agent = summary["strategies"][f"agent:{tiny_policy}"]
    assert agent["in_distribution"] and agent["trained_on"] == ["nb201-cifar10"]
    assert not summary["strategies"]["rs"]["in_distribution"]


def test_a_policy_replaced_between_a_kill_and_the_resume_is_refused(tmp_path, nb201):
    folder = tmp_path / "policy"
    train(
        RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=100)), folder, benchmark=nb201, tensorboard=False
    )
    config = CompareConfig("nb201-cifar10", (f"agent:{folder}",), budget=5, runs=1, seed=1000)
    run_comparison(config, tmp_path / "cmp")
    (folder / "policy.pt").write_bytes((folder / "policy.pt").read_bytes() + b"\0")  # another file now
    with pytest.raises(RlnasError, match="these differ: the identity of agent:"):
        run_comparison(config, tmp_path / "cmp")
