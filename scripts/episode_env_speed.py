"""Environment steps per second of one actor: the 32-step edit environment and Q-network against the
search-episode environment and the one network for every space, same loop, same benchmark.

    python scripts/episode_env_speed.py [--benchmark nb101] [--steps 2000] [--repeats 3] [--out FILE.json]

One actor = one environment and its network on one thread: each step is a forward pass on the
current observation, an epsilon-greedy choice (epsilon 0.4, uniform among the valid actions) and the
environment's step; episodes restart as they end. Each network has its default shape. The
environment alone (random valid actions, no forward pass) is timed too. Learner updates per second (double DQN,
batch 32 by default, backward and Adam step) are timed last. The actor measures are
interleaved over `--repeats` rounds and the median of each is reported, with the machine's load
average: timings on shared cores are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from rlnas.agents import qnetwork
from rlnas.agents.apex import ApeXConfig
from rlnas.agents.apex.algorithm import Learner
from rlnas.agents.general_qnetwork import (
    OBS_KEYS,
    GeneralQNetwork,
    GeneralQNetworkConfig,
    obs_to_tensors,
)
from rlnas.agents.general_training import GeneralTrainConfig, dqn_update
from rlnas.benchmarks import load_benchmark
from rlnas.env import ArchitectureSearchEnv
from rlnas.env.search_episode import EpisodeConfig, SearchEpisodeEnv, Task


def steps_per_second(env, network, obs_to_tensors, keys, steps: int, seed: int) -> float:
    """Actor steps per second (network None: the environment alone)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for phase in ("warm-up", "timed"):
        start = time.perf_counter()
        for _ in range(steps if phase == "timed" else steps // 10):
            valid = np.flatnonzero(obs["action_mask"])
            if network is None or rng.random() < 0.4:
                action = int(rng.choice(valid))
            else:
                with torch.inference_mode():
                    q = network(obs_to_tensors({k: np.asarray(obs[k])[None] for k in keys}))[0]
                action = int(q.argmax())
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
    return steps / (time.perf_counter() - start)


def update_batch(env, keys, batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """A replay batch of `batch_size` transitions of random valid moves (for timing updates)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations, actions = [obs], []
    while len(actions) < batch_size:
        actions.append(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        observations.append(obs)
        if terminated or truncated:
            obs, _ = env.reset()
            observations[-1] = obs  # the timing does not care where an episode ends
    stack = {k: np.stack([o[k] for o in observations]) for k in keys}
    batch = {k: v[:-1] for k, v in stack.items()} | {f"next_{k}": v[1:] for k, v in stack.items()}
    return batch | {
        "action": np.array(actions),
        "return": np.zeros(batch_size, np.float32),
        "discount": np.full(batch_size, 0.97, np.float32),
    }


def updates_per_second(update, count: int) -> float:
    update()  # warm-up
    start = time.perf_counter()
    for _ in range(count):
        update()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", default="nb101")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--batch-size", type=int, default=32, help="learner updates are timed at this batch size")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    benchmark = load_benchmark(args.benchmark)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            old_net = qnetwork.QNetwork(qnetwork.QNetworkConfig.for_space(benchmark.space)).eval()
            episode = EpisodeConfig()
            new_net = GeneralQNetwork(GeneralQNetworkConfig.for_episodes(episode)).eval()
        old_env = ArchitectureSearchEnv(benchmark)
        new_env = SearchEpisodeEnv(Task(benchmark, (20, 200)), episode)
        measures = {
            "old_env_only": (old_env, None, None, None),
            "new_env_only": (new_env, None, None, None),
            "old_actor": (old_env, old_net, qnetwork.obs_to_tensors, qnetwork.OBS_KEYS),
            "new_actor": (new_env, new_net, obs_to_tensors, OBS_KEYS),
        }
        samples: dict[str, list[float]] = {name: [] for name in measures}
        for repeat in range(args.repeats):  # interleaved, so that a change of load hits both sides
            for name, (env, network, to_tensors, keys) in measures.items():
                samples[name].append(steps_per_second(env, network, to_tensors, keys, args.steps, repeat))
        rows = {name: float(np.median(values)) for name, values in samples.items()}
        apex = ApeXConfig(batch_size=args.batch_size)
        old_learner = Learner(qnetwork.QNetworkConfig.for_space(benchmark.space), apex, torch.device("cpu"))
        old_batch = update_batch(old_env, qnetwork.OBS_KEYS, args.batch_size, 0)
        weights = np.ones(args.batch_size, np.float32)
        general = GeneralTrainConfig(batch_size=args.batch_size)
        target = GeneralQNetwork(general.network_config())
        optimizer = torch.optim.Adam(new_net.parameters(), lr=general.learning_rate)
        new_batch = update_batch(new_env, OBS_KEYS, args.batch_size, 0)
        rows["old_learner_updates"] = updates_per_second(lambda: old_learner.update(old_batch, weights), 10)
        rows["new_learner_updates"] = updates_per_second(
            lambda: dqn_update(new_net, target, optimizer, new_batch, weights, general, "cpu"), 10
        )
    finally:
        torch.set_num_threads(previous)
    result = {
        "benchmark": args.benchmark,
        "steps": args.steps,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "load_average": os.getloadavg()[0],
        "per_second": {k: round(v, 1) for k, v in rows.items()},
        "ratio_new_over_old": {
            "env_only": round(rows["new_env_only"] / rows["old_env_only"], 3),
            "actor": round(rows["new_actor"] / rows["old_actor"], 3),
            "learner": round(rows["new_learner_updates"] / rows["old_learner_updates"], 3),
        },
        "parameters": {
            "old": sum(p.numel() for p in old_net.parameters()),
            "new": sum(p.numel() for p in new_net.parameters()),
        },
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
