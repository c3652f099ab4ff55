"""Ape-X: sum tree, replay, n-step returns, double-DQN targets, determinism, resume, the Ray executor."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
import torch

from rlnas.agents import load_policy
from rlnas.agents.apex import ApeXConfig, RunSpec, train
from rlnas.agents.apex.algorithm import Actor, double_dqn_targets, n_step_returns
from rlnas.agents.apex.replay import PrioritizedReplay, SumTree
from rlnas.agents.apex.run import CHECKPOINT_FILE, read_checkpoint
from rlnas.agents.qnetwork import OBS_KEYS, QNetwork, QNetworkConfig
from rlnas.errors import CheckpointError, ConfigError
from rlnas.experiments.apex_train import build_spec

TINY = {
    "actors": 2,
    "envs_per_actor": 2,
    "horizon": 10,
    "learning_starts": 100,
    "env_steps_per_update": 4,
    "batch_size": 32,
    "replay_capacity": 1000,
    "target_update_period": 20,
    "weight_sync_period": 5,
    "d_model": 32,
    "ff_dim": 64,
    "pair_dim": 32,
}


def tiny_config(**changes) -> ApeXConfig:
    return ApeXConfig(**{**TINY, **changes})


# ---------------------------------------------------------------------- sum tree and replay
def test_sum_tree_samples_in_proportion_to_priorities():
    tree = SumTree(10)
    priorities = np.array([1.0, 0.0, 3.0, 6.0, 0.5, 0.0, 2.0, 2.5, 0.0, 5.0])
    tree.update(np.arange(10), priorities)
    assert tree.total == pytest.approx(priorities.sum())
    rng = np.random.default_rng(0)
    draws = np.concatenate([tree.sample(64, rng) for _ in range(1000)])
    frequency = np.bincount(draws, minlength=10) / len(draws)
    np.testing.assert_allclose(frequency, priorities / priorities.sum(), atol=0.01)
    assert frequency[priorities == 0].sum() == 0


def test_sum_tree_updates_keep_every_sum_right():
    tree = SumTree(13)  # not a power of two
    rng = np.random.default_rng(1)
    values = np.zeros(13)
    for _ in range(50):
        rows = rng.integers(0, 13, size=5)  # repeated rows: the last value wins
        new = rng.random(5) * 10
        tree.update(rows, new)
        for r, v in zip(rows, new, strict=True):
            values[r] = v
        np.testing.assert_allclose(tree.get(np.arange(13)), values)
        assert tree.total == pytest.approx(values.sum())
        internal = np.arange(1, tree.leaf_base)
        np.testing.assert_allclose(tree.nodes[internal], tree.nodes[2 * internal] + tree.nodes[2 * internal + 1])
    cumulative = np.cumsum(values)
    queries = rng.random(200) * values.sum()
    np.testing.assert_array_equal(tree.find(queries), np.searchsorted(cumulative, queries, side="right"))
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([-1.0]))


def test_replay_wraps_around_and_weights_are_importance_corrections():
    layout = {"x": ((2,), np.dtype(np.float32)), "action": ((), np.dtype(np.int64))}
    replay = PrioritizedReplay(capacity=8, alpha=0.5, epsilon=0.0, layout=layout)
    for start in (0, 5, 10):
        rows = np.arange(start, start + 5)
        replay.add({"x": np.stack([rows, rows], 1).astype(np.float32), "action": rows}, np.full(5, 4.0))
    assert len(replay) == 8 and replay.added == 15
    assert sorted(replay.storage["action"].tolist()) == list(range(7, 15))
    replay.update_priorities(np.array([0]), np.array([16.0]))  # leaf = 16 ** 0.5 = 4, others 2
    rows, weights, batch = replay.sample(4, beta=1.0, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(batch["action"], replay.storage["action"][rows])
    probabilities = replay.tree.get(rows) / replay.tree.total
    expected = (8 * probabilities) ** -1.0
    np.testing.assert_allclose(weights, expected / expected.max(), rtol=1e-6)
    state = replay.state_dict()
    copy = PrioritizedReplay(8, 0.5, 0.0, layout)
    copy.load_state_dict(state)
    np.testing.assert_array_equal(copy.tree.nodes, replay.tree.nodes)
    assert (copy.position, copy.size, copy.added) == (replay.position, replay.size, replay.added)


# ---------------------------------------------------------------------- returns and targets
def test_n_step_returns_bootstrap_at_truncation():
    rewards = np.array([1.0, 2.0, 3.0, 4.0])
    returns, discounts, boot = n_step_returns(rewards, gamma=0.5, n=2)
    np.testing.assert_allclose(returns, [1 + 0.5 * 2, 2 + 0.5 * 3, 3 + 0.5 * 4, 4])
    np.testing.assert_allclose(discounts, [0.25, 0.25, 0.25, 0.5])  # the last step bootstraps from s_4
    np.testing.assert_array_equal(boot, [2, 3, 4, 4])
    _, terminal_discounts, _ = n_step_returns(rewards, gamma=0.5, n=2, terminated=True)
    np.testing.assert_allclose(terminal_discounts, [0.25, 0.25, 0.0, 0.0])
    # a batch of envs (T, E) gives per-env returns
    two = np.stack([rewards, 10 * rewards], axis=1)
    batch_returns, batch_discounts, _ = n_step_returns(two, gamma=0.5, n=2)
    np.testing.assert_allclose(batch_returns[:, 1], 10 * returns)
    np.testing.assert_allclose(batch_discounts[:, 0], discounts)
    # n longer than the episode: every step sums to the end and bootstraps from the final state
    long_returns, long_discounts, long_boot = n_step_returns(rewards, gamma=1.0, n=10)
    np.testing.assert_allclose(long_returns, [10, 9, 7, 4])
    np.testing.assert_allclose(long_discounts, [1, 1, 1, 1])
    np.testing.assert_array_equal(long_boot, [4, 4, 4, 4])


def test_double_dqn_target_by_hand():
    inf = float("inf")
    returns = torch.tensor([1.0, 0.5, 2.0])
    discounts = torch.tensor([0.9, 0.81, 0.0])
    next_online = torch.tensor([[1.0, 3.0, -inf], [5.0, -inf, 4.0], [0.0, 1.0, 2.0]])
    next_target = torch.tensor([[10.0, 2.0, 99.0], [-1.0, 50.0, 7.0], [3.0, 3.0, 3.0]])
    targets = double_dqn_targets(returns, discounts, next_online, next_target)
    # online picks actions 1, 0, 2; the target network evaluates them; no bootstrap where discount is 0
    torch.testing.assert_close(targets, torch.tensor([1.0 + 0.9 * 2.0, 0.5 + 0.81 * -1.0, 2.0]))


def test_epsilon_ladder():
    assert ApeXConfig(actors=1, envs_per_actor=1).epsilons() == [0.4]
    ladder = ApeXConfig(actors=2, envs_per_actor=4).epsilons()
    assert len(ladder) == 8
    assert ladder[0] == pytest.approx(0.4) and ladder[-1] == pytest.approx(0.4**8)
    assert all(a > b for a, b in itertools.pairwise(ladder))


def test_actor_transitions_and_priorities(nb201):
    config = tiny_config(n_step=3, gamma=0.9)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = QNetwork(QNetworkConfig.for_space(nb201.space, **config.network_overrides()), nb201.space.edit_layout)
    actor = Actor(nb201, config, 0, network)
    transitions, priorities, stats = actor.run_episode()
    horizon, envs = config.horizon, config.envs_per_actor
    assert len(priorities) == horizon * envs and (priorities >= 0).all()
    assert stats["best_score"].shape == (envs,)
    last = slice((horizon - 1) * envs, horizon * envs)  # the last step of each env
    assert np.allclose(transitions["discount"][last], 0.9)
    assert np.allclose(transitions["discount"][: (horizon - 3) * envs], 0.9**3)
    # the next observation of step t is the observation of step t + 3 (same env)
    for key in OBS_KEYS:
        np.testing.assert_array_equal(transitions["next_" + key][:envs], transitions[key][3 * envs : 4 * envs])
    # recompute the priorities with the actor's network
    with torch.no_grad():
        q = network({k: torch.as_tensor(transitions[k]) for k in OBS_KEYS}).numpy()
        next_q = network({k: torch.as_tensor(transitions["next_" + k]) for k in OBS_KEYS}).numpy()
    expected = np.abs(
        transitions["return"] + transitions["discount"] * next_q.max(1) - q[np.arange(len(q)), transitions["action"]]
    )
    np.testing.assert_allclose(priorities, expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- the config
def test_config_from_toml_and_errors(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("horizon = 16\nalpha = 8\n[apex_ignored]\n")
    with pytest.raises(ConfigError, match="unknown field"):
        ApeXConfig.from_toml(path)
    path.write_text("horizon = 16\nalpha = 8\n")
    config = ApeXConfig.from_toml(path, seed=3)
    assert (config.horizon, config.alpha, config.seed) == (16, 8.0, 3)
    path.write_text("[apex]\nbatch_size = 64\n")
    assert ApeXConfig.from_toml(path).batch_size == 64
    path.write_text("horizon = 'long'\n")
    with pytest.raises(ConfigError, match="horizon"):
        ApeXConfig.from_toml(path)
    path.write_text("horizon = [\n")
    with pytest.raises(ConfigError, match="TOML"):
        ApeXConfig.from_toml(path)
    with pytest.raises(ConfigError, match="does not exist"):
        ApeXConfig.from_toml(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="gamma"):
        ApeXConfig(gamma=1.5)
    with pytest.raises(ConfigError, match="shaping"):
        ApeXConfig(shaping="cubic")


# ---------------------------------------------------------------------- training runs
def final_state(folder) -> dict:
    return read_checkpoint(folder)


def assert_same_training_state(a: dict, b: dict) -> None:
    for part in ("online", "target"):
        for key, tensor in a["learner"][part].items():
            assert torch.equal(tensor, b["learner"][part][key]), f"{part}.{key} differs"
    assert a["learner"]["updates"] == b["learner"]["updates"] > 0
    for key, value in a["executor"]["replay"]["storage"].items():
        np.testing.assert_array_equal(value, b["executor"]["replay"]["storage"][key])
    np.testing.assert_array_equal(a["executor"]["replay"]["leaves"], b["executor"]["replay"]["leaves"])
    assert a["executor"]["sample_rng"] == b["executor"]["sample_rng"]
    assert a["counters"]["env_steps"] == b["counters"]["env_steps"]
    state_a, state_b = a["learner"]["optimizer"]["state"], b["learner"]["optimizer"]["state"]
    for key in state_a:
        assert torch.equal(state_a[key]["exp_avg"], state_b[key]["exp_avg"])


def test_in_process_training_is_bit_identical_for_a_seed(nb201, tmp_path):
    spec = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=300))
    first = train(spec, tmp_path / "a", benchmark=nb201, tensorboard=False)
    second = train(spec, tmp_path / "b", benchmark=nb201, tensorboard=False)
    assert first["env_steps"] == second["env_steps"] == 320  # rounded up to a whole round of episodes
    assert_same_training_state(final_state(tmp_path / "a"), final_state(tmp_path / "b"))
    other = train(
        RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=300, seed=1)),
        tmp_path / "c",
        benchmark=nb201,
        tensorboard=False,
    )
    assert other["env_steps"] == 320
    weights_a = final_state(tmp_path / "a")["learner"]["online"]
    weights_c = final_state(tmp_path / "c")["learner"]["online"]
    assert any(not torch.equal(weights_a[k], weights_c[k]) for k in weights_a)
    policy = load_policy(tmp_path / "a")
    assert policy.benchmark == "nb201-cifar10" and policy.space == "nb201"
    assert policy.env_config["horizon"] == 10 and policy.info["trained_env_steps"] == 320


def test_resume_continues_exactly_like_an_uninterrupted_run(nb201, tmp_path):
    straight = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=360))
    train(straight, tmp_path / "straight", benchmark=nb201, tensorboard=False)
    first_part = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=160))
    train(first_part, tmp_path / "resumed", benchmark=nb201, tensorboard=False)
    assert final_state(tmp_path / "resumed")["counters"]["env_steps"] == 160
    summary = train(straight, tmp_path / "resumed", resume=True, benchmark=nb201, tensorboard=False)
    assert summary["env_steps"] == 360
    assert_same_training_state(final_state(tmp_path / "straight"), final_state(tmp_path / "resumed"))
    with (tmp_path / "resumed" / "metrics.csv").open() as f:
        steps = [int(row["env_steps"]) for row in csv.DictReader(f)]
    assert steps == list(range(40, 361, 40))


def test_resume_errors(nb201, tmp_path):
    spec = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=40))
    train(spec, tmp_path / "run", benchmark=nb201, tensorboard=False)
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(spec, tmp_path / "run", benchmark=nb201, tensorboard=False)
    with pytest.raises(ConfigError, match="cannot change gamma"):
        train(
            RunSpec("nb201-cifar10", "local", tiny_config(gamma=0.5)),
            tmp_path / "run",
            resume=True,
            benchmark=nb201,
            tensorboard=False,
        )
    with pytest.raises(ConfigError, match="cannot change seed"):
        build_spec(benchmark=None, executor=None, config=None, resume=tmp_path / "run", overrides={"seed": 5})
    resumed = build_spec(
        benchmark=None, executor=None, config=None, resume=tmp_path / "run", overrides={"total_env_steps": 99}
    )
    assert resumed.config.total_env_steps == 99
    with pytest.raises(ConfigError, match="has trained 40 environment steps already"):
        build_spec(
            benchmark=None, executor=None, config=None, resume=tmp_path / "run", overrides={"total_env_steps": 20}
        )
    # a run stops at the first episode boundary past its total: resumed as it is, the finished run stands
    spec = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=30))
    train(spec, tmp_path / "past", benchmark=nb201, tensorboard=False)
    assert read_checkpoint(tmp_path / "past")["counters"]["env_steps"] == 40
    saved = build_spec(benchmark=None, executor=None, config=None, resume=tmp_path / "past")
    assert saved.config.total_env_steps == 30
    summary = train(saved, tmp_path / "past", resume=True, benchmark=nb201, tensorboard=False)
    assert summary["env_steps"] == 40
    with pytest.raises(CheckpointError, match=r"nothing to resume: .* does not exist"):
        train(None, tmp_path / "nothing", resume=True, benchmark=nb201, tensorboard=False)
    (tmp_path / "afile").write_text("")
    with pytest.raises(CheckpointError, match=r"nothing to resume: .* is a file"):
        train(None, tmp_path / "afile", resume=True, benchmark=nb201, tensorboard=False)
    (tmp_path / "early").mkdir()  # a run stopped before its first checkpoint leaves a folder without one
    with pytest.raises(CheckpointError, match=r"nothing to resume: .* holds no checkpoint"):
        train(None, tmp_path / "early", resume=True, benchmark=nb201, tensorboard=False)
    (tmp_path / "run" / CHECKPOINT_FILE).write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        train(None, tmp_path / "run", resume=True, benchmark=nb201, tensorboard=False)


def test_checkpoints_by_steps_survive_a_crash_long_before_checkpoint_minutes(nb201, tmp_path):
    class Crash(Exception):
        pass

    def crash_at_120(row: dict) -> None:
        if row["env_steps"] == 120:
            raise Crash

    # checkpoint_minutes (5) is far longer than the run: only the step interval checkpoints it
    spec = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=200, checkpoint_steps=80))
    with pytest.raises(Crash):
        train(spec, tmp_path / "run", benchmark=nb201, tensorboard=False, progress=crash_at_120)
    assert read_checkpoint(tmp_path / "run")["counters"]["env_steps"] == 80
    half_written = tmp_path / "run" / ".checkpoint.pt.tmp4242"  # as a kill in the middle of a write leaves it
    half_written.write_bytes(b"half a checkpoint")
    summary = train(None, tmp_path / "run", resume=True, benchmark=nb201, tensorboard=False)
    assert summary["env_steps"] == 200
    assert not half_written.exists()


def test_train_leaves_torch_threads_and_global_generator_alone(nb201, tmp_path):
    threads = torch.get_num_threads()
    generator = torch.get_rng_state()
    spec = RunSpec("nb201-cifar10", "local", tiny_config(total_env_steps=40, torch_threads=threads + 1))
    seen = []
    train(
        spec,
        tmp_path / "run",
        benchmark=nb201,
        tensorboard=False,
        progress=lambda row: seen.append(torch.get_num_threads()),
    )
    assert seen == [threads + 1]  # the run used its setting ...
    assert torch.get_num_threads() == threads  # ... and gave the caller's back
    assert torch.equal(torch.get_rng_state(), generator)


def test_cli_resume_without_a_checkpoint_is_one_line(tmp_path):
    import subprocess
    import sys

    for folder in (tmp_path / "missing", tmp_path):
        done = subprocess.run(
            [sys.executable, "-m", "rlnas", "train", "--resume", str(folder)], capture_output=True, text=True
        )
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "nothing to resume" in done.stderr, done.stderr


def test_train_options_come_from_the_config_fields(tmp_path, monkeypatch, capsys):
    from dataclasses import fields

    from rlnas import cli
    from rlnas.agents.options import PANEL, all_config_parameters, config_overrides
    from rlnas.config_options import config_parameters, field_docs

    parameters = {p.name: p for p in config_parameters(ApeXConfig, PANEL)}
    assert set(parameters) == {f.name for f in fields(ApeXConfig)}
    assert all(field_docs(ApeXConfig)[name] for name in parameters)  # every field has its docstring as help
    device_help = next(p for p in all_config_parameters() if p.name == "device").annotation.__metadata__[0].help
    assert device_help.endswith("(default auto; with --tasks cpu)")  # a general run's default differs
    assert config_overrides({"steps": 5, "seed": None, "learning_rate": 0.1}) == {
        "total_env_steps": 5,
        "learning_rate": 0.1,
    }
    for option, value, field in (
        ("--seed", "-1", "seed"),
        ("--steps", "0", "total_env_steps"),
        ("--gamma", "2", "gamma"),
    ):
        monkeypatch.setattr("sys.argv", ["rlnas", "train", option, value, "--out", str(tmp_path / "x")])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and field in error, error
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_kill_9_then_resume_matches_an_uninterrupted_run(nb201, tmp_path):
    """`rlnas train` killed with SIGKILL mid-run, then `--resume`d, ends in the uninterrupted run's state."""
    import os
    import signal
    import subprocess
    import sys
    import time

    config_file = tmp_path / "tiny.toml"
    config_file.write_text("".join(f"{k} = {v!r}\n" for k, v in TINY.items()) + "checkpoint_minutes = 0.0001\n")
    command = [sys.executable, "-m", "rlnas", "train", "--config", str(config_file), "--steps", "1200"]
    process = subprocess.Popen(
        [*command, "--out", str(tmp_path / "killed")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "killed" / CHECKPOINT_FILE).exists() and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within two minutes"
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = read_checkpoint(tmp_path / "killed")["counters"]["env_steps"]
    assert killed_at < 1200, "the run finished before the kill; nothing was tested"
    resumed = subprocess.run([*command, "--resume", str(tmp_path / "killed")], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    spec = RunSpec("nb201-cifar10", "local", ApeXConfig.from_toml(config_file, total_env_steps=1200))
    train(spec, tmp_path / "straight", benchmark=nb201, tensorboard=False)
    assert_same_training_state(read_checkpoint(tmp_path / "straight"), read_checkpoint(tmp_path / "killed"))
    with (tmp_path / "killed" / "metrics.csv").open() as f:
        steps = [int(row["env_steps"]) for row in csv.DictReader(f)]
    assert steps == list(range(40, 1201, 40))


def test_the_replay_ratio_gate_keeps_actors_at_most_one_round_ahead_of_the_learner():
    """The gate alone, with stand-ins for Ray: a request is a token, `wait` finishes the oldest one."""
    from rlnas.agents.apex.ray_executor import ReplayRatioGate

    class FakeRay:
        def wait(self, refs, num_returns, timeout):
            return refs[:num_returns], refs[num_returns:]

        def get(self, ref):
            return ref

    class FakeActor:
        def __init__(self, name):
            self.run = self
            self.name = name

        def remote(self, weights_version, weights, env_steps):
            return (self.name, weights_version, env_steps)

    actors = [FakeActor("a"), FakeActor("b"), FakeActor("c")]
    # rounds of 3 actors x 5 steps; the learner owes an update every 10 steps after the first 20
    gate = ReplayRatioGate(FakeRay(), actors, request_steps=5, learning_starts=20, env_steps_per_update=10)
    gate.submit(env_steps=0, updates=0, can_learn=True, weights_version=0, weights_ref=None)
    assert len(gate.pending) == 3  # the limit is 35: everyone may run
    assert gate.finished(wait=False) == [("a", 0, 0)]
    gate.submit(env_steps=5, updates=0, can_learn=True, weights_version=1, weights_ref=None)
    assert len(gate.pending) == 3  # 5 collected + 2 x 5 under way < 35: the idle actor may run
    for _ in range(3):
        gate.finished(wait=False)
    # 20 steps collected; with no update yet the limit is 20 + 0 x 10 + 3 x 5 = 35 steps collected or under way
    gate.submit(env_steps=20, updates=0, can_learn=True, weights_version=1, weights_ref=None)
    assert len(gate.pending) == 3
    for _ in range(3):
        gate.finished(wait=False)
    gate.submit(env_steps=35, updates=0, can_learn=True, weights_version=1, weights_ref=None)
    assert gate.pending == {} and len(gate.idle) == 3  # held back until the learner catches up
    gate.submit(env_steps=35, updates=1, can_learn=True, weights_version=1, weights_ref=None)
    assert len(gate.pending) == 2  # one update allows 10 more steps (limit 45): requests go out while under it
    gate.submit(env_steps=35, updates=1, can_learn=False, weights_version=1, weights_ref=None)
    assert len(gate.pending) == 3  # a learner that cannot learn (too small a replay) holds nobody back
    assert sorted(gate.drain()) == [("a", 1, 35), ("b", 1, 35), ("c", 1, 35)]
    assert gate.pending == {} and sorted(gate.idle) == [0, 1, 2]


def ray_run(benchmark, folder, kill, **changes) -> dict:
    """Train 400 steps on Ray (checkpoints every 80); `kill(executor)` runs once, at the first row past 120 steps."""
    from rlnas.agents.apex.ray_executor import RayExecutor
    from rlnas.agents.apex.run import TrainingRun

    killed = []

    def progress(row: dict) -> None:
        if not killed and row["env_steps"] >= 120:
            kill(executor)
            killed.append(row["env_steps"])

    spec = RunSpec("nb201-cifar10", "ray", tiny_config(total_env_steps=400, checkpoint_steps=80, **changes))
    run = TrainingRun(spec, folder, benchmark=benchmark, tensorboard=False, progress=progress)
    executor = RayExecutor(run)
    try:
        return executor.train()
    finally:
        assert killed, "the run ended before the kill; nothing was tested"


def test_ray_training_survives_a_killed_actor(nb201, tmp_path):
    import ray  # CI installs the `ray` extra: a missing Ray is a failure, not a skip

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # Ray restarts the killed actor, which gets the learner's weights with its next episode; training finishes
        summary = ray_run(nb201, tmp_path / "ray", lambda executor: ray.kill(executor.actors[0], no_restart=False))
        assert ray.is_initialized()  # a Ray the caller started is left to the caller
    finally:
        ray.shutdown()
    assert summary["env_steps"] >= 400 and summary["updates"] > 0 and summary["actor_restarts"] == 1
    state = read_checkpoint(tmp_path / "ray")
    assert state["counters"]["env_steps"] == summary["env_steps"]
    assert state["executor"]["replay_server"]["replay"]["size"] >= 400
    assert load_policy(tmp_path / "ray").space == "nb201"
    with (tmp_path / "ray" / "metrics.csv").open() as f:
        rows = [(int(row["env_steps"]), int(row["updates"])) for row in csv.DictReader(f)]
    # the replay ratio (4 steps per update after 100): the learner never leads, the actors lead by at most
    # a round of episodes (2 x 20 steps) plus the episode that crossed the line
    lead = [steps - 100 - 4 * updates for steps, updates in rows if steps >= 100]
    assert lead and all(0 <= x <= 2 * 20 + 20 for x in lead), rows


@pytest.mark.slow
def test_ray_run_lost_beyond_repair_ends_in_one_line_and_resumes(nb201, tmp_path):
    import ray

    from rlnas.agents.apex.ray_executor import WorkerLostError

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # an actor lost past its restarts: a checkpoint where it happened, one line, and --resume finishes the run
        with pytest.raises(WorkerLostError, match=r"actor was lost .* --resume") as lost:
            ray_run(nb201, tmp_path / "actor", lambda ex: ray.kill(ex.actors[1], no_restart=False), actor_restarts=0)
        assert "\n" not in str(lost.value)
        assert read_checkpoint(tmp_path / "actor")["counters"]["env_steps"] >= 120
        assert train(None, tmp_path / "actor", resume=True, benchmark=nb201, tensorboard=False)["env_steps"] >= 400
        # the replay server is not restartable (it holds the only replay): one line, then --resume from the checkpoint
        with pytest.raises(WorkerLostError, match=r"replay server was lost .* --resume .* last checkpoint"):
            ray_run(nb201, tmp_path / "replay", lambda executor: ray.kill(executor.replay))
        assert read_checkpoint(tmp_path / "replay")["counters"]["env_steps"] >= 80
        assert train(None, tmp_path / "replay", resume=True, benchmark=nb201, tensorboard=False)["env_steps"] >= 400
    finally:
        ray.shutdown()
