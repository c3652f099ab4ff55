"""One actor's steps per second, the Q-networks' forward time and memory, and the space's neighbourhood
and query rate, for one or more benchmarks in one command: the scale of a space (issue 9, item 4) and
the cost of the search-episode environment against the 32-step edit environment (issue 8).

    python scripts/episode_env_speed.py [--benchmark nb101 [--benchmark nb301-distilled ...]]
        [--steps 2000] [--repeats 3] [--batch-size 32] [--out FILE.json]

One actor = one environment and its network on one thread: each step is a forward pass on the
current observation, an epsilon-greedy choice (epsilon 0.4, uniform among the valid actions) and the
environment's step; episodes restart as they end. Each network has its default shape; the general
network is one and the same for every benchmark. The environment alone (random valid actions, no
forward pass) is timed too. The 32-step edit environment and its QNetwork serve one-cell spaces
only; where they do not serve a benchmark, the reason is reported instead of their figures.

Per benchmark, besides the actor: the general network's forward time per observation at batch 1
and at `--batch-size`, on observations of a random walk past its first steps (elites filled), and
its peak memory: the most bytes of tensors alive at once during one forward pass beyond its inputs
and weights, from the torch profiler's allocation events (tracemalloc does not see torch's CPU
allocator); the distinct neighbours of sampled cells and the time to build them
(`space.neighbours`); the query rate one by one (`lookup`) and, where the benchmark has it, batched
(`lookup_many`, 500 at a time). Learner updates per second (double DQN, backward and Adam step)
are timed last.

Timed measures are interleaved over `--repeats` rounds (every benchmark in every round, so that a
change of load hits all) and the median of each is reported, with the machine's load average at
the start and the end. Ratios are against the first benchmark: for the interleaved measures, the
median over rounds of each round's ratio (the two sides of a round ran under the same load). Timings
on shared cores are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from rlnas.agents import qnetwork
from rlnas.agents.apex import ApeXConfig
from rlnas.agents.apex.algorithm import Learner
from rlnas.agents.general_qnetwork import (
    OBS_KEYS,
    GeneralQNetwork,
    GeneralQNetworkConfig,
    obs_to_tensors,
    stack_observations,
)
from rlnas.agents.general_training import GeneralTrainConfig, dqn_update
from rlnas.benchmarks import load_benchmark
from rlnas.env import ArchitectureSearchEnv
from rlnas.env.search_episode import EpisodeConfig, SearchEpisodeEnv, Task
from rlnas.errors import RlnasError


def steps_per_second(env, network, obs_to_tensors, keys, steps: int, seed: int) -> tuple[float, float]:
    """Actor steps per second (network None: the environment alone), and the share of the timed steps
    that queried a new cell (a revisit is far cheaper than a new cell)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for phase in ("warm-up", "timed"):
        new = 0
        start = time.perf_counter()
        for _ in range(steps if phase == "timed" else steps // 10):
            valid = np.flatnonzero(obs["action_mask"])
            if network is None or rng.random() < 0.4:
                action = int(rng.choice(valid))
            else:
                with torch.inference_mode():
                    q = network(obs_to_tensors({k: np.asarray(obs[k])[None] for k in keys}))[0]
                action = int(q.argmax())
            obs, _, terminated, truncated, info = env.step(action)
            new += bool(info["new"])
            if terminated or truncated:
                obs, _ = env.reset()
    return steps / (time.perf_counter() - start), new / steps


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


def walk_observations(env, count: int, seed: int) -> list[dict[str, np.ndarray]]:
    """`count` observations of a random valid walk, after `count` steps that fill the run's memory."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations = []
    for _ in range(2 * count):
        obs, _, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        if terminated or truncated:
            obs, _ = env.reset()
        observations.append(obs)
    return observations[count:]


def forward_seconds(network: GeneralQNetwork, observations: list[dict[str, np.ndarray]], batch: int) -> float:
    """Seconds per observation of forward passes on `observations` in batches of `batch`."""
    batches = [
        obs_to_tensors(stack_observations(observations[i : i + batch])) for i in range(0, len(observations), batch)
    ]
    with torch.inference_mode():
        network(batches[0])  # warm-up
        start = time.perf_counter()
        for tensors in batches:
            network(tensors)
    return (time.perf_counter() - start) / len(observations)


def forward_peak_bytes(network: GeneralQNetwork, observations: list[dict[str, np.ndarray]]) -> int:
    """Most bytes of tensors alive at once during one forward pass on `observations`, beyond the
    inputs and weights: the running sum of the CPU allocator's allocations and frees, in order."""
    tensors = obs_to_tensors(stack_observations(observations))
    with torch.inference_mode():
        network(tensors)  # warm-up
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
            network(tensors)
    events = sorted(profiler.events(), key=lambda e: e.time_range.start)
    # an op's own allocations are its self usage; "[memory]" events are frees (and allocations) outside any op
    deltas = [e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage for e in events]
    return int(np.max(np.cumsum(deltas)))


def neighbourhood(space, cells: list) -> tuple[list[int], float]:
    """Distinct neighbours of each cell, and the seconds per cell to build them."""
    start = time.perf_counter()
    sizes = [len(space.neighbours(cell)) for cell in cells]
    return sizes, (time.perf_counter() - start) / len(cells)


def queries_per_second(benchmark, cells: list, batched: bool, seconds: float = 0.25) -> float:
    """Look-ups per second over `cells`, passing over them again until `seconds` have gone by (a
    table answers thousands in a few milliseconds, too short to time on a busy machine)."""
    count = 0
    start = time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        if batched:
            for i in range(0, len(cells), 500):
                benchmark.lookup_many(cells[i : i + 500])
        else:
            for cell in cells:
                benchmark.lookup(cell, None)
        count += len(cells)
    return count / (time.perf_counter() - start)


class Subject:
    """One benchmark's environments, networks and fixed inputs for the measures."""

    def __init__(self, name: str, episode: EpisodeConfig, new_net: GeneralQNetwork, batch_size: int, cells: int):
        self.name = name
        self.benchmark = benchmark = load_benchmark(name)
        self.new_env = SearchEpisodeEnv(Task(benchmark, (20, 200)), episode)
        self.actors = {
            "new_env_only": (self.new_env, None, None, None),
            "new_actor": (self.new_env, new_net, obs_to_tensors, OBS_KEYS),
        }
        self.old_reason = None
        try:  # the 32-step edit environment serves one-cell spaces only
            self.old_config = qnetwork.QNetworkConfig.for_space(benchmark.space)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                self.old_net = qnetwork.QNetwork(self.old_config, benchmark.space.edit_layout).eval()
            self.old_env = ArchitectureSearchEnv(benchmark)
            self.old_env.reset(seed=0)
        except (RlnasError, ValueError) as exc:
            self.old_reason = f"{type(exc).__name__}: {exc}"
        else:
            self.actors["old_env_only"] = (self.old_env, None, None, None)
            self.actors["old_actor"] = (self.old_env, self.old_net, qnetwork.obs_to_tensors, qnetwork.OBS_KEYS)
        self.observations = walk_observations(self.new_env, batch_size, 1)
        rng = np.random.default_rng(2)
        space = benchmark.space
        self.cells = [space.validate(space.sample(rng)) for _ in range(cells)]
        self.queries = [space.validate(space.sample(rng)) for _ in range(10 * cells)]


def learner_updates(subject: Subject, batch_size: int) -> dict[str, float]:
    """Learner updates per second at `batch_size`: the general network's, and the old QNetwork's where it applies."""
    general = GeneralTrainConfig(batch_size=batch_size)
    weights = np.ones(batch_size, np.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        online = GeneralQNetwork(general.network_config())
        target = GeneralQNetwork(general.network_config())
    optimizer = torch.optim.Adam(online.parameters(), lr=general.learning_rate)
    new_batch = update_batch(subject.new_env, OBS_KEYS, batch_size, 0)
    rates = {
        "new_learner_updates": updates_per_second(
            lambda: dqn_update(online, target, optimizer, new_batch, weights, general, "cpu"), 10
        )
    }
    if subject.old_reason is None:
        layout = subject.old_env.benchmark.space.edit_layout
        old_learner = Learner(subject.old_config, layout, ApeXConfig(batch_size=batch_size), torch.device("cpu"))
        old_batch = update_batch(subject.old_env, qnetwork.OBS_KEYS, batch_size, 0)
        rates["old_learner_updates"] = updates_per_second(lambda: old_learner.update(old_batch, weights), 10)
    return rates


def rounded(key: str, value: float) -> float:
    """Milliseconds and shares to 4 decimals, rates to 1."""
    return round(value, 4 if "ms" in key or "share" in key else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", action="append", help="repeatable; ratios are against the first (default nb101)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the median is reported")
    parser.add_argument("--batch-size", type=int, default=32, help="forward passes and learner updates at this batch")
    parser.add_argument("--cells", type=int, default=300, help="sampled cells for the neighbourhood (10x for queries)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    names = args.benchmark or ["nb101"]
    load_start = os.getloadavg()
    describe = ["git", "describe", "--always", "--dirty"]  # the code measured (the working tree is shared)
    commit = subprocess.run(describe, capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        episode = EpisodeConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            new_net = GeneralQNetwork(GeneralQNetworkConfig.for_episodes(episode)).eval()
        subjects = [Subject(name, episode, new_net, args.batch_size, args.cells) for name in names]
        samples: dict[str, dict[str, list[float]]] = {s.name: {} for s in subjects}
        sizes: dict[str, list[int]] = {}
        for repeat in range(args.repeats):  # interleaved, so that a change of load hits every measure
            for s in subjects:
                measured = {}
                for name, (env, network, to_tensors, keys) in s.actors.items():
                    rate, new_share = steps_per_second(env, network, to_tensors, keys, args.steps, repeat)
                    measured[name] = rate
                    measured[f"{name}_new_cell_share"] = new_share
                measured["forward_ms_batch_1"] = 1e3 * forward_seconds(new_net, s.observations, 1)
                measured[f"forward_ms_batch_{args.batch_size}"] = 1e3 * forward_seconds(
                    new_net, s.observations, args.batch_size
                )
                sizes[s.name], build = neighbourhood(s.benchmark.space, s.cells)
                measured["neighbourhood_build_ms"] = 1e3 * build
                measured["queries_per_second"] = queries_per_second(s.benchmark, s.queries, batched=False)
                if hasattr(s.benchmark, "lookup_many"):
                    measured["batched_queries_per_second"] = queries_per_second(s.benchmark, s.queries, batched=True)
                for key, value in measured.items():
                    samples[s.name].setdefault(key, []).append(value)
        rows = {name: {k: float(np.median(v)) for k, v in measured.items()} for name, measured in samples.items()}
        for s in subjects:
            rows[s.name] |= learner_updates(s, args.batch_size)
        peaks = {
            s.name: {
                "batch_1": forward_peak_bytes(new_net, s.observations[:1]),
                f"batch_{args.batch_size}": forward_peak_bytes(new_net, s.observations),
            }
            for s in subjects
        }
    finally:
        torch.set_num_threads(previous)
    result = {
        "benchmarks": names,
        "steps": args.steps,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "cells": args.cells,
        "threads": 1,
        "commit": commit,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "parameters": {"general": sum(p.numel() for p in new_net.parameters())},
        "per_benchmark": {},
        f"ratio_to_{names[0]}": {},
    }
    for s in subjects:
        row, entry = rows[s.name], {}
        entry["median"] = {k: rounded(k, v) for k, v in row.items()}
        entry["range_over_repeats"] = {k: [rounded(k, min(v)), rounded(k, max(v))] for k, v in samples[s.name].items()}
        entry["forward_peak_bytes"] = peaks[s.name]
        entry["neighbours"] = {
            "mean": round(float(np.mean(sizes[s.name])), 2),
            "min": min(sizes[s.name]),
            "max": max(sizes[s.name]),
        }
        entry["current_vertices"] = int(np.count_nonzero(s.observations[-1]["tokens"][0]))
        if s.old_reason is None:
            entry["parameters_old"] = sum(p.numel() for p in s.old_net.parameters())
            entry["ratio_new_over_old"] = {
                "env_only": round(row["new_env_only"] / row["old_env_only"], 3),
                "actor": round(row["new_actor"] / row["old_actor"], 3),
                "learner": round(row["new_learner_updates"] / row["old_learner_updates"], 3),
            }
        else:
            entry["old_not_applicable"] = s.old_reason
        result["per_benchmark"][s.name] = entry
    reference, paired = rows[names[0]], samples[names[0]]
    for s in subjects[1:]:
        # a round's ratio compares measures taken under the same load; learner updates are timed once
        rounds = {
            k: np.array(v) / np.array(paired[k]) for k, v in samples[s.name].items() if k in paired and "share" not in k
        }
        ratios = {k: round(float(np.median(v)), 3) for k, v in rounds.items()}
        ratios["new_learner_updates"] = round(rows[s.name]["new_learner_updates"] / reference["new_learner_updates"], 3)
        ratios |= {f"forward_peak_bytes_{k}": round(v / peaks[names[0]][k], 3) for k, v in peaks[s.name].items()}
        ratios["neighbours_mean"] = round(float(np.mean(sizes[s.name]) / np.mean(sizes[names[0]])), 3)
        ratios["range_over_repeats"] = {
            k: [round(float(v.min()), 3), round(float(v.max()), 3)] for k, v in rounds.items()
        }
        result[f"ratio_to_{names[0]}"][s.name] = ratios
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
