"""General training runs: checkpoint and resume, `rlnas train --tasks` (leave-one-out), the Ray executor."""

from __future__ import annotations

import pytest
import torch
from test_general_training import TINY

from rlnas.agents.general_config import GeneralTrainConfig
from rlnas.agents.general_policy import GeneralPolicy
from rlnas.agents.general_training import read_checkpoint, train_general
from rlnas.benchmarks import load_benchmark
from rlnas.env.search_episode import Task
from rlnas.errors import ConfigError


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
    for change, message in (({"seed": 4}, "cannot change seed"), ({"actors": 2}, "one actor")):
        with pytest.raises(ConfigError, match=message):
            train_general(tasks, GeneralTrainConfig(**{**TINY, "seed": 3, **change}), checkpoint=path, resume=True)
    with pytest.raises(ConfigError, match="task list differs"):
        train_general(tasks[:1], config, checkpoint=path, resume=True)
