"""The search MDP: Gymnasium conformance, masks, truncation, free revisits, rewards, any cell size."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from toy_benchmark import ToyBenchmark

from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.env import CONTEXT_SIZE, ArchitectureSearchEnv, InvalidActionError, encode_cell
from rlnas.errors import RlnasError
from rlnas.rewards import shape_reward


def valid_actions(obs) -> np.ndarray:
    return np.flatnonzero(obs["action_mask"])


@pytest.mark.parametrize("name", ["nb201", "nb101", "toy"])
def test_check_env_passes(name, request):
    benchmark = ToyBenchmark() if name == "toy" else request.getfixturevalue(name)
    env = ArchitectureSearchEnv(benchmark, horizon=8)
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("name", ["nb201", "nb101", "toy"])
def test_mask_matches_the_space_edits(name, request):
    benchmark = ToyBenchmark() if name == "toy" else request.getfixturevalue(name)
    env = ArchitectureSearchEnv(benchmark, horizon=20)
    obs, info = env.reset(seed=3)
    rng = np.random.default_rng(0)
    assert obs["action_mask"].shape == (benchmark.space.num_edits,)
    for _ in range(20):
        expected = np.zeros(benchmark.space.num_edits, dtype=np.int8)
        expected[[index for index, _ in benchmark.space.edits(env.cell)]] = 1
        np.testing.assert_array_equal(obs["action_mask"], expected)
        np.testing.assert_array_equal(info["action_mask"], expected)
        action = rng.choice(valid_actions(obs))
        target = dict(benchmark.space.edits(env.cell))[action]
        assert sorted(env.action_targets()) == valid_actions(obs).tolist()
        assert env.action_targets()[action] == target
        obs, _, _, _, info = env.step(action)
        assert env.cell == target
        tokens, adjacency, _ = encode_cell(target, benchmark.space.max_vertices)
        np.testing.assert_array_equal(obs["ops"], tokens)
        np.testing.assert_array_equal(obs["adjacency"], adjacency)
        assert obs["vertex_mask"].sum() == target.num_vertices
        assert obs["context"].shape == (CONTEXT_SIZE,)


def test_episodes_end_by_truncation_at_the_horizon(nb201):
    env = ArchitectureSearchEnv(nb201, horizon=5)
    obs, _ = env.reset(seed=0)
    for t in range(5):
        obs, _, terminated, truncated, _ = env.step(valid_actions(obs)[0])
        assert not terminated
        assert truncated == (t == 4)
        assert obs["context"][0] == pytest.approx((5 - t - 1) / 5)
    with pytest.raises(RlnasError, match="horizon"):
        env.step(valid_actions(obs)[0])


def test_revisits_are_free(nb201):
    env = ArchitectureSearchEnv(nb201, horizon=10)
    _, info = env.reset(seed=1)
    start = env.cell
    assert info["unique_queries"] == 1
    # change the op of the first op vertex, then change it back
    v = next(i for i, label in enumerate(start.ops) if label >= 0)
    num_ops = len(nb201.space.op_names)
    other = (start.ops[v] + 1) % num_ops
    _, _, _, _, info = env.step((v - 1) * num_ops + other)
    assert info["unique_queries"] == 2 and info["new"]
    _, _, _, _, info = env.step((v - 1) * num_ops + start.ops[v])
    assert env.cell == start
    assert info["unique_queries"] == 2 and not info["new"]
    assert env.session.total_queries == 3


def test_seeded_resets_are_reproducible(nb101):
    env = ArchitectureSearchEnv(nb101)
    first, _ = env.reset(seed=42)
    other, _ = env.reset(seed=43)
    again, _ = env.reset(seed=42)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert any(not np.array_equal(first[k], other[k]) for k in first)


def test_reset_from_a_given_cell(nb201):
    env = ArchitectureSearchEnv(nb201)
    start = nb201.space.sample(np.random.default_rng(5))
    env.reset(seed=0, options={"cell": start})
    assert env.cell == start


def test_masked_actions_are_no_ops_or_errors_when_strict(nb201):
    env = ArchitectureSearchEnv(nb201, horizon=4)
    obs, _ = env.reset(seed=0)
    masked = int(np.flatnonzero(obs["action_mask"] == 0)[0])
    start = env.cell
    _, reward, _, _, info = env.step(masked)
    assert info["invalid_action"] and env.cell == start
    assert reward == pytest.approx(shape_reward(info["score"], 6.0))
    strict = ArchitectureSearchEnv(nb201, strict=True)
    strict.reset(seed=0)
    with pytest.raises(InvalidActionError, match="masked"):
        strict.step(masked)


@pytest.mark.parametrize("shaping", ["power", "exp"])
def test_score_reward_is_the_shaped_accuracy_of_the_reached_cell(nb201, shaping):
    env = ArchitectureSearchEnv(nb201, alpha=6.0, shaping=shaping, reward="score")
    obs, _ = env.reset(seed=2)
    for _ in range(5):
        obs, reward, _, _, info = env.step(valid_actions(obs)[-1])
        assert reward == pytest.approx(float(shape_reward(info["score"], 6.0, shaping)))
        assert obs["context"][1] == pytest.approx(reward, rel=1e-6)


def test_improvement_rewards_telescope_to_the_best_found(nb101):
    env = ArchitectureSearchEnv(nb101, horizon=12, reward="improvement")
    obs, info = env.reset(seed=4)
    start = env.shaped(info["score"])
    rng = np.random.default_rng(1)
    total = 0.0
    for _ in range(12):
        obs, reward, _, _, info = env.step(rng.choice(valid_actions(obs)))
        assert reward >= 0
        total += reward
    assert total == pytest.approx(info["best_shaped"] - start)
    assert obs["context"][2] == pytest.approx(info["best_shaped"], rel=1e-6)


def test_bad_settings_are_one_line_errors(nb201):
    with pytest.raises(RlnasError, match="shaping"):
        ArchitectureSearchEnv(nb201, shaping="cubic")
    with pytest.raises(RlnasError, match="reward"):
        ArchitectureSearchEnv(nb201, reward="accuracy")
    with pytest.raises(RlnasError, match="horizon"):
        ArchitectureSearchEnv(nb201, horizon=0)
    from rlnas.benchmarks import load_benchmark

    with pytest.raises(RlnasError, match="have 2 cells; search it with the search episode"):
        ArchitectureSearchEnv(load_benchmark("nb301-distilled"))  # its encoding holds one cell


def test_token_encoding():
    cell = Cell((0b0110, 0b1000, 0b1000, 0), (INPUT, 2, -3, OUTPUT))
    tokens, adjacency, vertex_mask = encode_cell(cell, 6)
    assert tokens.tolist() == [1, 6, 3, 2, 0, 0]
    assert adjacency[0].tolist() == [0, 1, 1, 0, 0, 0] and adjacency[1, 3] == 1 and adjacency[3].sum() == 0
    assert vertex_mask.tolist() == [1, 1, 1, 1, 0, 0]


def test_render_ansi(nb201):
    env = ArchitectureSearchEnv(nb201, render_mode="ansi")
    env.reset(seed=0)
    assert "score" in env.render()
