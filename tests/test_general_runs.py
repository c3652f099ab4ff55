"""General training runs: checkpoint and resume, `rlnas train --tasks` (leave-one-out), the Ray executor."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from test_general_training import TINY

from rlnas.agents.general_config import GeneralTrainConfig
from rlnas.agents.general_policy import GeneralPolicy
from rlnas.agents.general_training import load_task_file, read_checkpoint, train_general
from rlnas.benchmarks import load_benchmark
from rlnas.env.search_episode import Task
from rlnas.errors import ConfigError

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tasks():
    return [
        Task(load_benchmark("nb201-cifar10", repeat="random"), (5, 15), noise=0.02),
        Task(load_benchmark("nbgraph-cora"), (5, 15)),
    ]


def same_weights(a: GeneralPolicy, b: GeneralPolicy) -> bool:
    first, second = a.network.state_dict(), b.network.state_dict()
    return all(torch.equal(first[k], second[k]) for k in first)


class Stop(Exception):
    pass


def test_a_resumed_run_ends_with_the_weights_of_the_run_never_stopped(tasks, tmp_path):
    config = GeneralTrainConfig(seed=3, checkpoint_updates=7, **TINY)
    straight = train_general(tasks, config)
    path = tmp_path / "checkpoint.pt"

    def stop_after_the_first_checkpoint(status: dict) -> None:
        if path.exists():
            raise Stop

    with pytest.raises(Stop):
        train_general(
            tasks, config, checkpoint=path, metadata={"task_file": "x.toml"}, progress=stop_after_the_first_checkpoint
        )
    state = read_checkpoint(path)
    assert 7 <= state["learner"]["updates"] < 30
    assert any(episode["actions"] for episode in state["actor"]["episodes"])  # episodes under way are replayed
    resumed = train_general(tasks, config, checkpoint=path, resume=True)
    assert same_weights(straight.policy, resumed.policy)
    assert resumed.episodes == straight.episodes
    assert resumed.policy.info == {**straight.policy.info, "task_file": "x.toml"}
    assert read_checkpoint(path)["counters"]["env_steps"] == 160
    fewer = {"total_env_steps": 100}  # below the 160 done
    for change, message in (({"seed": 4}, "cannot change seed"), ({"actors": 2}, "one actor"), (fewer, "160 env")):
        with pytest.raises(ConfigError, match=message):
            train_general(tasks, GeneralTrainConfig(**{**TINY, "seed": 3, **change}), checkpoint=path, resume=True)
    with pytest.raises(ConfigError, match="task list differs"):
        train_general(tasks[:1], config, checkpoint=path, resume=True)


def test_ray_training_survives_a_killed_actor_and_resumes(tasks, tmp_path):
    import ray  # CI installs the `ray` extra: a missing Ray is a failure, not a skip

    from rlnas.agents.general_ray import GeneralRayExecutor

    config = GeneralTrainConfig(
        seed=3, actors=2, actor_rounds=5, checkpoint_updates=20, **{**TINY, "total_env_steps": 300}
    )
    path, killed = tmp_path / "checkpoint.pt", []

    def kill_an_actor_once(status: dict) -> None:
        if not killed and status["env_steps"] >= 100:
            ray.kill(executor.actors[0], no_restart=False)
            killed.append(status["env_steps"])

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = GeneralRayExecutor(tasks, config)
        result = executor.train(checkpoint=path, metadata={"without": ["nb101"]}, progress=kill_an_actor_once)
        assert killed and ray.is_initialized()  # a Ray the caller started is left to the caller
        info = result.policy.info
        assert info["env_steps"] >= 300 and info["actor_restarts"] == 1 and info["without"] == ["nb101"]
        assert 0 < info["updates"] <= (info["env_steps"] - 40) // 4  # the learner never runs ahead of the ratio
        assert {e["task"] for e in result.episodes} == {"nb201-cifar10", "nbgraph-cora"}
        assert {e["epsilon"] for e in result.episodes} <= set(config.epsilons())
        assert [e["env_steps"] for e in result.episodes] == sorted(e["env_steps"] for e in result.episodes)
        state = read_checkpoint(path)
        assert state["executor"] == "ray" and state["counters"]["env_steps"] == info["env_steps"]
        assert state["replay_server"]["replay"]["size"] > 0
        longer = GeneralRayExecutor(tasks, replace(config, total_env_steps=400))
        resumed = longer.train(checkpoint=path, resume=True)
    finally:
        ray.shutdown()
    assert resumed.policy.info["env_steps"] >= 400 and resumed.policy.info["updates"] > info["updates"]
    assert resumed.episodes[: len(result.episodes)] == result.episodes
    with pytest.raises(ConfigError, match="--executor ray"):
        train_general(tasks, replace(config, actors=1), checkpoint=path, resume=True)


TASK_FILE = """[episode]
num_elites = 2
recent_edits = 3
step_cap = 2.0

[[task]]
benchmark = "nb201-cifar10"
budget = [5, 15]
noise = 0.02

[[task]]
benchmark = "nbgraph-cora"
budget = [5, 15]

[[task]]
benchmark = "nb101"
budget = [5, 15]
"""
#: TINY as options (every GeneralTrainConfig field is one), the episode rules being in the task file
TINY_OPTIONS = [
    *(x for k, v in TINY.items() if k not in ("episode", "total_env_steps") for x in (f"--{k.replace('_', '-')}", v)),
    *("--seed", 3, "--checkpoint-updates", 10, "--torch-threads", 1),
]


def rlnas(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in this process: (exit status, stderr)."""
    from rlnas import cli

    monkeypatch.setattr("sys.argv", ["rlnas", *map(str, args)])
    try:
        cli.main()
    except SystemExit as exit_info:
        return exit_info.code, capsys.readouterr().err
    return 0, capsys.readouterr().err


def test_rlnas_train_tasks_without_a_family_writes_a_policy_its_curve_and_a_plot(tmp_path, monkeypatch, capsys):
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(TASK_FILE)
    out = tmp_path / "no-nb101"
    status, error = rlnas(
        monkeypatch,
        capsys,
        "train",
        "--tasks",
        tasks,
        "--without",
        "nb101",
        "--out",
        out,
        "--steps",
        120,
        *TINY_OPTIONS,
    )
    assert status == 0, error
    policy = GeneralPolicy.load(out / "policy.pt")  # what learned:DIR/policy.pt loads
    assert GeneralPolicy.load(out).fingerprint == policy.fingerprint  # and learned:DIR
    assert [t["benchmark"] for t in policy.trained_on] == ["nb201-cifar10", "nbgraph-cora"]
    assert policy.info["task_file"] == str(tasks) and policy.info["without"] == ["nb101"]
    assert policy.info["env_steps"] == 120 and policy.info["wall_seconds"] >= 0
    episodes = json.loads((out / "episodes.json").read_text())
    assert episodes and {e["task"] for e in episodes} <= {"nb201-cifar10", "nbgraph-cora"}
    assert (out / "training.png").stat().st_size > 0
    config = GeneralTrainConfig(seed=3, checkpoint_updates=10, **{**TINY, "total_env_steps": 120})
    library = train_general(load_task_file(tasks, without=["nb101"])[0], config)
    assert same_weights(policy, library.policy) and episodes == library.episodes  # the CLI is the library
    # --resume continues the run in its folder, with its task file and families left out, to more steps
    status, error = rlnas(monkeypatch, capsys, "train", "--resume", out, "--steps", 160)
    assert status == 0, error
    longer = GeneralPolicy.load(out / "policy.pt")
    assert longer.info["env_steps"] == 160 and longer.info["updates"] == 30 and longer.info["without"] == ["nb101"]
    assert json.loads((out / "episodes.json").read_text())[: len(episodes)] == episodes


def test_rlnas_train_tasks_refuses_bad_input_in_one_line_before_writing(tmp_path, monkeypatch, capsys):
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(TASK_FILE)
    out = tmp_path / "run"
    cases = {
        ("--without", "nb101", "--without", "nb201", "--without", "nbgraph"): "leaves no task",
        ("--without", "nb999"): "matches no task",
        ("--pair-dim", "8"): "one benchmark's agent",
        ("--envs", "0"): "--envs must be a positive integer",
        ("--steps", "0"): "--steps (total_env_steps) must be a positive integer",
        ("--actors", "2"): "add --executor ray",
        ("--executor", "spark"): "local or ray",
        ("--address", "1.2.3.4:6379"): "with --executor ray",
        ("--executor", "ray", "--address", "127.0.0.1:1"): "no Ray cluster answers",
        ("--benchmark", "nb101"): "not --tasks",
        ("--resume", tmp_path / "elsewhere"): "--resume DIR continues",
    }
    for args, message in cases.items():
        status, error = rlnas(monkeypatch, capsys, "train", "--tasks", tasks, "--out", out, *args)
        assert status == 2 and error.count("\n") == 1 and message in error, (args, error)
    status, error = rlnas(monkeypatch, capsys, "train", "--tasks", tmp_path / "missing.toml", "--out", out)
    assert status == 2 and "cannot read the task file" in error
    status, error = rlnas(monkeypatch, capsys, "train", "--benchmark", "nb101", "--envs", "3", "--out", out)
    assert status == 2 and "add --tasks FILE" in error
    status, error = rlnas(monkeypatch, capsys, "train", "--without", "nb101", "--out", out)
    assert status == 2 and "use it with --tasks" in error
    assert not out.exists()
