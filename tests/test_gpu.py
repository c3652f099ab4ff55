"""The GPU path (`device="cuda"`): a child, ENAS and general-policy training on a GPU, each against the same
work on the CPU. Skipped where torch sees no GPU, as on CI; docs/training.md says where they last ran."""

from __future__ import annotations

import dataclasses
import math
import sqlite3

import pytest
import torch

from rlnas.agents.general_policy import GeneralPolicy
from rlnas.agents.general_training import GeneralTrainConfig, train_general
from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.training import TrainingBenchmark
from rlnas.enas import run_enas
from rlnas.env.search_episode import SearchEpisodeEnv, Task
from rlnas.spaces import NB101_SPACE
from rlnas.spaces.nb201 import nb201_string_to_cell
from tests.test_enas import TINY as TINY_ENAS
from tests.test_general_runs import Stop
from tests.test_general_training import TINY as TINY_GENERAL
from tests.test_training import CELL
from tests.test_training import TINY as TINY_CHILD

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU that torch sees")


@pytest.fixture(scope="module")
def tasks():
    return [Task(load_benchmark("nb201-cifar10"), (5, 15), noise=0.02)]


def test_a_child_trains_on_the_gpu_as_on_the_cpu(tmp_path):
    """Same initial weights (drawn on the CPU) and batches: the two devices differ only in rounding."""
    results = {}
    for device in ("cpu", "cuda"):
        database = tmp_path / f"{device}.sqlite"
        settings = dataclasses.replace(TINY_CHILD, device=device)
        results[device] = TrainingBenchmark("digits", NB101_SPACE, settings, database=database).evaluate(CELL)
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT device FROM children").fetchall() == [(device,)]
    cpu, gpu = results["cpu"].metrics, results["cuda"].metrics
    assert gpu["train_loss"] == pytest.approx(cpu["train_loss"], rel=0.02)
    assert abs(gpu["validation_accuracy"] - cpu["validation_accuracy"]) <= 0.03  # 3 of 100 images
    assert gpu["parameters"] == cpu["parameters"]


def test_enas_runs_on_the_gpu():
    torch.cuda.reset_peak_memory_stats()
    summary = run_enas("digits", dataclasses.replace(TINY_ENAS, device="cuda"), seed=3)
    assert torch.cuda.max_memory_allocated() > 0
    assert len(summary["supernet"]["epochs"]) == TINY_ENAS.epochs
    assert nb201_string_to_cell(summary["derived"]["arch"])
    assert 0 <= summary["retrained"]["validation_accuracy"] <= 1
    assert all(math.isfinite(value) for epoch in summary["supernet"]["epochs"] for value in numbers(epoch))


def numbers(record: dict) -> list[float]:
    return [value for value in record.values() if isinstance(value, float)]


def test_general_training_runs_on_the_gpu_and_its_policy_acts_on_the_cpu(tasks, tmp_path):
    """The network's first weights are drawn on the CPU: until learning starts both runs act alike."""
    config = GeneralTrainConfig(seed=3, **TINY_GENERAL)
    torch.cuda.reset_peak_memory_stats()
    gpu = train_general(tasks, config, device="cuda")
    assert torch.cuda.max_memory_allocated() > 0
    cpu = train_general(tasks, config)
    assert gpu.policy.info["updates"] == cpu.policy.info["updates"]

    def before_learning(episodes: list[dict]) -> list[dict]:
        return [row for row in episodes if row["env_steps"] <= config.learning_starts]

    assert before_learning(gpu.episodes) and before_learning(gpu.episodes) == before_learning(cpu.episodes)
    gpu.policy.save(tmp_path / "policy.pt")
    policy = GeneralPolicy.load(tmp_path / "policy.pt")
    assert {p.device.type for p in policy.network.parameters()} == {"cpu"}
    cpu_weights, gpu_weights = cpu.policy.network.state_dict(), policy.network.state_dict()
    drift = max(float((cpu_weights[k] - gpu_weights[k]).abs().max()) for k in cpu_weights)
    assert drift < 0.05, f"the GPU-trained weights drifted {drift} from the CPU's"
    obs, _ = SearchEpisodeEnv(tasks, policy.episode).reset(seed=0)
    assert obs["action_mask"][policy.act(obs)] == 1


@pytest.mark.parametrize(("first", "then"), [("cuda", "cpu"), ("cpu", "cuda")])
def test_a_run_checkpointed_on_one_device_resumes_on_the_other(tasks, tmp_path, first, then):
    """A run trained on a GPU machine continues on a laptop, and the other way round."""
    config = GeneralTrainConfig(seed=3, checkpoint_updates=7, **TINY_GENERAL)
    path = tmp_path / "checkpoint.pt"

    def stop_after_the_first_checkpoint(status: dict) -> None:
        if path.exists():
            raise Stop

    with pytest.raises(Stop):
        train_general(tasks, config, first, checkpoint=path, progress=stop_after_the_first_checkpoint)
    resumed = train_general(tasks, config, then, checkpoint=path, resume=True)
    assert resumed.policy.info["env_steps"] == config.total_env_steps
    learning_steps = config.total_env_steps - config.learning_starts
    assert resumed.policy.info["updates"] == learning_steps // config.env_steps_per_update
