"""Ape-X training of a general policy on a task list: reproducible in-process, task files, augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlnas.agents.general_qnetwork import GeneralQNetwork
from rlnas.agents.general_training import GeneralActor, GeneralTrainConfig, load_task_file, train_general
from rlnas.benchmarks import load_benchmark
from rlnas.env.search_episode import EpisodeConfig, SearchEpisodeEnv, Task, local_search_action
from rlnas.errors import ConfigError

TINY = {
    "total_env_steps": 160,
    "envs": 2,
    "batch_size": 8,
    "learning_starts": 40,
    "replay_capacity": 400,
    "target_update_period": 10,
    "weight_sync_period": 5,
    "d_model": 16,
    "num_layers": 1,
    "num_heads": 2,
    "ff_dim": 32,
    "head_dim": 16,
    "episode": EpisodeConfig(num_elites=2, recent_edits=3, step_cap=2.0),
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def tasks():
    return [
        Task(load_benchmark("nb201-cifar10"), (5, 15), noise=0.02),
        Task(load_benchmark("nbgraph-cora"), (5, 15)),
    ]


def test_training_is_bit_reproducible_in_process_and_learns_on_every_task(tasks):
    first = train_general(tasks, GeneralTrainConfig(seed=3, **TINY))
    second = train_general(tasks, GeneralTrainConfig(seed=3, **TINY))
    other = train_general(tasks, GeneralTrainConfig(seed=4, **TINY))
    weights = [r.policy.network.state_dict() for r in (first, second, other)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
    assert first.episodes == second.episodes
    assert first.policy.info["updates"] == (160 - 40) // 4
    assert {e["task"] for e in first.episodes} == {"nb201-cifar10", "nbgraph-cora"}
    assert all(5 <= e["budget"] <= 15 for e in first.episodes)
    assert [t["benchmark"] for t in first.policy.trained_on] == ["nb201-cifar10", "nbgraph-cora"]


def test_noise_changes_what_the_policy_observes_not_what_it_is_paid(tasks):
    bench = tasks[0].benchmark
    runs = {}
    for noise in (0.0, 0.5):
        env = SearchEpisodeEnv(Task(bench, (30, 30), noise=noise), TINY["episode"])
        obs, _ = env.reset(seed=0)
        rng, contexts, rewards, done = np.random.default_rng(0), [], [], False
        while not done:
            mask = obs["action_mask"].copy()
            mask[1:3] = 0  # edits and fresh samples only: the same cells whatever the scores
            obs, reward, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
            contexts.append(obs["context"])
            rewards.append(reward)
            done = terminated or truncated
        runs[noise] = (np.array(contexts), rewards, [e.score for e in env.session.history])
    assert runs[0.0][2] == runs[0.5][2]  # the same cells and true scores
    assert sum(runs[0.0][1]) == pytest.approx(sum(runs[0.5][1]))  # the same pay
    assert not np.array_equal(runs[0.0][0], runs[0.5][0])  # other observed ranks


def test_a_task_file_names_benchmarks_budgets_and_augmentations(tmp_path, data_path):
    good = tmp_path / "tasks.toml"
    good.write_text(
        "[episode]\nnum_elites = 2\n\n"
        '[[task]]\nbenchmark = "nb201-cifar100"\nbudget = [20, 100]\nnoise = 0.01\nrepeat = "random"\n\n'
        '[[task]]\nbenchmark = "nbgraph-citeseer"\nscale = [0, 1]\n'
    )
    tasks, episode = load_task_file(good, data_path)
    assert [(t.name, t.budget, t.noise, t.scale) for t in tasks] == [
        ("nb201-cifar100", (20, 100), 0.01, None),
        ("nbgraph-citeseer", (20, 200), 0.0, (0.0, 1.0)),
    ]
    assert tasks[0].benchmark.repeat == "random" and episode == {"num_elites": 2}
    cases = {
        "": "names no task",
        '[[task]]\nbenchmark = "nb201-cifar10"\nbudget = 50\n': "budget is",
        '[[task]]\nbenchmark = "nb201-cifar10"\nhorizon = 3\n': "takes budget, noise, repeat, scale",
        '[[task]]\nbenchmark = "nb201-cifar10"\nnoise = -1\n': "non-negative",
        '[[task]]\nbenchmark = "nb201-cifar10"\nscale = [1, 0]\n': "scale is",
        '[episode]\nwidth = 3\n[[task]]\nbenchmark = "nb201-cifar10"\n': "takes only",
        "[[task]\n": "not valid TOML",
        '[episod]\nnum_elites = 2\n[[task]]\nbenchmark = "nb201-cifar10"\n': "unknown episod",
        'steps = 100\n[[task]]\nbenchmark = "nb201-cifar10"\n': "unknown steps",
        '[[task]]\nbenchmark = "nb201-cifar10"\nbudget = [20, 40000]\n': "holds 15,625 architectures",
        '[[task]]\nbenchmark = "csv:t.csv"\n': 'add space = "NAME"',
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_task_file(bad, data_path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_task_file(tmp_path / "missing.toml")
    for rule, message in (
        ({"num_elites": "3"}, "num_elites must be an integer"),
        ({"unseen_edits_only": "yes"}, "true or false"),
        ({"step_cap": 0}, "step_cap must be at least 1"),
        ({"shaping": "cubic"}, "shaping must be one of"),
    ):
        with pytest.raises(ConfigError, match=message):
            EpisodeConfig(**rule)


def test_a_task_file_takes_a_csv_table_with_its_space(tmp_path):
    from rlnas.agents.general_training import load_tasks, task_spec
    from rlnas.spaces import NB201_SPACE

    table = tmp_path / "mine.csv"
    table.write_text("arch,acc\n" + "".join(f"{NB201_SPACE.to_text(NB201_SPACE.from_text(a))},{s}\n" for a, s in (
        ("000000", 0.1), ("444444", 0.2), ("333333", 0.3), ("111111", 0.4), ("222222", 0.5))))  # fmt: skip
    tasks_file = tmp_path / "tasks.toml"
    tasks_file.write_text(f'[[task]]\nbenchmark = "csv:{table}"\nspace = "nb201"\nbudget = [2, 4]\n')
    (task,), _ = load_task_file(tasks_file)
    assert task.benchmark.space is NB201_SPACE and task.benchmark.best_possible == 0.5
    spec = task_spec(task)
    assert spec["space"] == "nb201" and task_spec(load_tasks([spec])[0]) == spec  # how Ray actors load it


def _agreement_with_the_teacher(policy, task: Task, episode: EpisodeConfig, seed: int) -> float:
    """The share of a teacher-driven episode's states in which the policy's greedy move is the teacher's kind of
    move (back to the best cell, an edit of it, or a fresh sample)."""
    env = SearchEpisodeEnv(task, episode)
    obs, _ = env.reset(seed=seed)
    rng, first, agree, total, done = np.random.default_rng(seed), 1 + episode.num_elites, 0, 0, False
    while not done:
        action = local_search_action(obs, rng)
        chosen = policy.act(obs)
        agree += min(action, first) == min(chosen, first)
        total += 1
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return agree / total


def test_teacher_environments_give_demonstrations_that_the_margin_loss_teaches(tasks):
    episode = EpisodeConfig(num_elites=2, recent_edits=3, step_cap=3.0, unseen_edits_only=True)
    task = Task(tasks[0].benchmark, (20, 30))
    settings = TINY | {"total_env_steps": 1200, "episode": episode, "teacher_envs": 1, "demo_loss_weight": 10.0}
    taught = train_general([task], GeneralTrainConfig(seed=1, demo_margin=0.5, **settings))
    again = train_general([task], GeneralTrainConfig(seed=1, demo_margin=0.5, **settings))
    untaught = train_general([task], GeneralTrainConfig(seed=1, demo_margin=0.0, **settings))
    assert taught.episodes == again.episodes
    assert {e["teacher"] for e in taught.episodes} == {False, True}
    assert taught.policy.info["teacher"] == "local_search" and taught.policy.info["demo_margin"] == 0.5
    scores = {
        name: np.mean([_agreement_with_the_teacher(r.policy, task, episode, seed) for seed in (7, 8, 9)])
        for name, r in {"taught": taught, "untaught": untaught}.items()
    }
    assert scores["taught"] >= 0.9 > scores["untaught"], scores


def test_the_teacher_is_named_and_drives_the_teacher_environments(tasks):
    """The named teacher acts in the teacher environment: the elite teacher returns to elites other than the
    best, which local search never does. An unknown name is a one-line error."""
    episode = EpisodeConfig(num_elites=3, recent_edits=3, step_cap=3.0, unseen_edits_only=True, keep_better_only=True)
    task = Task(tasks[0].benchmark, (60, 60))
    returns = {}
    for teacher in ("local_search", "elites"):
        config = GeneralTrainConfig(**TINY | {"seed": 2, "teacher_envs": 1, "teacher": teacher, "episode": episode})
        network = GeneralQNetwork(config.network_config())
        actor = GeneralActor([task], config, network, config.epsilons(), np.random.SeedSequence(2), [3, 4])
        taken = []
        for _ in range(150):
            actor.step()
            taken += actor.buffers[1].actions[-1:]
        returns[teacher] = {a for a in taken if 2 <= a <= 3}  # returns to the 2nd and 3rd elite
    assert returns == {"local_search": set(), "elites": {2, 3}}
    with pytest.raises(ConfigError, match="teacher must be one of local_search, elites, climb"):
        GeneralTrainConfig(teacher="evolution")
