"""The agent's reward on nb301-distilled: alpha = 32 from a task file, and the shaping plot of the command line."""

from __future__ import annotations

import numpy as np
from test_cli import assert_one_line_error, rlnas

from rlnas.agents.general_training import load_task_file
from rlnas.env.search_episode import EpisodeConfig, SearchEpisodeEnv, reference_scale


def test_a_task_file_sets_alpha_32_for_nb301_distilled(tmp_path):
    path = tmp_path / "nb301.toml"
    path.write_text('[episode]\nalpha = 32\n\n[[task]]\nbenchmark = "nb301-distilled"\nbudget = [20, 20]\n')
    tasks, episode = load_task_file(path)
    config = EpisodeConfig(**episode)
    assert config.alpha == 32
    env = SearchEpisodeEnv(tasks, config)
    env.reset(seed=0)
    start, rewards, terminated = env.best.score, [], False
    while not terminated:  # fresh samples only: the best climbs above the median, where the shaping bites
        _, reward, terminated, truncated, _ = env.step(0)
        rewards.append(reward)
        assert not truncated
    lo, hi = reference_scale(tasks[0].benchmark, config.reference_samples)
    normalised = np.clip((np.array([start, env.best.score]) - lo) / (hi - lo), 0, 1)
    assert normalised[1] > 0.5
    # the return telescopes to the shaped best minus the shaped start, with the task file's alpha
    assert np.isclose(sum(rewards), normalised[1] ** 32 - normalised[0] ** 32, rtol=1e-9, atol=0)


def test_plot_shaping_on_sampled_architectures(tmp_path):
    out = tmp_path / "shaping.png"
    args = (
        "plot",
        "shaping",
        "-b",
        "nb301-distilled",
        "--alpha",
        "32",
        "--alpha",
        "3",
        "--raw-alpha",
        "32",
        "--samples",
        "200",
    )
    result = rlnas(*args, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000
    assert "alpha=32: of the 200 sampled architectures" in result.stdout
    assert "alpha=3: of the 200 sampled architectures" in result.stdout
    assert_one_line_error(rlnas("plot", "shaping", "-b", "nb301-distilled", "--samples", "0"), "--samples")


def test_the_one_benchmark_agent_refuses_the_darts_space_in_one_line(tmp_path, data_path):
    """`rlnas train -b nb301-distilled` (no --tasks): the old agent's network cannot act in two cells."""
    out = tmp_path / "run"
    result = rlnas("train", "-b", "nb301-distilled", "--steps", "10", "--out", str(out))
    assert_one_line_error(result, "nb301-distilled", "rlnas train --tasks")
    assert not out.exists()
