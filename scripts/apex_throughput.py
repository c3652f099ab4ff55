"""Ape-X throughput: one actor, the learner, and the Ray executor against the in-process one.

    python scripts/apex_throughput.py [--benchmark nb201-cifar10] [--steps 8000]

Measures, in this process:

1. environment steps per second of one actor acting with the Q-network, no learning
   (`envs_per_actor` 1 and the default 8, one batched forward pass per step of all its envs);
2. learner updates per second at batch 256 (sampling, double-DQN targets, backward, Adam step,
   priority update), on transitions the actor collected;
3. environment steps per second while training, with the Ray executor and 2 actors and with the
   in-process executor and 2 actors, same configuration, and their ratio. The rate is taken over
   the metrics rows after the first (start-up, Ray's included, is left out).

The machine's load average is printed with the table: timings on shared cores are noisy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from rlnas.agents.apex import ApeXConfig, RunSpec, train
from rlnas.agents.apex.algorithm import Actor, Learner
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.qnetwork import QNetwork, QNetworkConfig
from rlnas.benchmarks import load_benchmark


def actor_steps_per_second(benchmark, config: ApeXConfig, episodes: int) -> tuple[float, Actor, list]:
    network = QNetwork(
        QNetworkConfig.for_space(benchmark.space, **config.network_overrides()), benchmark.space.edit_layout
    )
    actor = Actor(benchmark, config, 0, network)
    actor.run_episode()  # warm-up
    collected = []
    start = time.perf_counter()
    for _ in range(episodes):
        collected.append(actor.run_episode())
    seconds = time.perf_counter() - start
    return episodes * config.horizon * config.envs_per_actor / seconds, actor, collected


def learner_updates_per_second(benchmark, config: ApeXConfig, actor: Actor, collected: list, updates: int) -> float:
    replay = PrioritizedReplay(config.replay_capacity, config.priority_alpha, config.priority_epsilon, actor.layout)
    for transitions, priorities, _ in collected:
        replay.add(transitions, priorities)
    network_config = QNetworkConfig.for_space(benchmark.space, **config.network_overrides())
    learner = Learner(network_config, benchmark.space.edit_layout, config, torch.device("cpu"))
    rng = np.random.default_rng(0)

    def one_update():
        rows, weights, batch = replay.sample(config.batch_size, 0.4, rng)
        result = learner.update(batch, weights)
        replay.update_priorities(rows, result["td_abs"])

    for _ in range(3):
        one_update()
    start = time.perf_counter()
    for _ in range(updates):
        one_update()
    return updates / (time.perf_counter() - start)


def training_steps_per_second(benchmark, executor: str, config: ApeXConfig) -> tuple[float, float]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        train(
            RunSpec(benchmark.name, executor, config),
            folder,
            benchmark=benchmark,
            tensorboard=False,
            progress=rows.append,
        )
    if len(rows) < 2:
        raise SystemExit(f"--steps {config.total_env_steps} gives one metrics row; a rate needs two: give more steps")
    first, last = rows[0], rows[-1]
    seconds = last["wall_seconds"] - first["wall_seconds"]
    return (last["env_steps"] - first["env_steps"]) / seconds, (last["updates"] - first["updates"]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="nb201-cifar10")
    parser.add_argument("--steps", type=int, default=8000, help="environment steps of each training run")
    parser.add_argument("--updates", type=int, default=30, help="timed learner updates")
    args = parser.parse_args()
    torch.set_num_threads(1)
    benchmark = load_benchmark(args.benchmark)
    base = ApeXConfig()

    results = []
    for envs in (1, base.envs_per_actor):
        config = base.replace(envs_per_actor=envs, actors=1)
        rate, actor, collected = actor_steps_per_second(benchmark, config, episodes=max(2, 64 // envs))
        results.append((f"one actor, {envs} env(s), no learning", f"{rate:,.0f} env steps/s"))
    rate = learner_updates_per_second(benchmark, base, actor, collected, args.updates)
    samples = rate * base.batch_size
    results.append((f"learner, batch {base.batch_size}", f"{rate:,.1f} updates/s ({samples:,.0f} samples/s)"))

    config = base.replace(actors=2, total_env_steps=args.steps, learning_starts=min(2000, args.steps // 4))
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        ray_rate, ray_updates = training_steps_per_second(benchmark, "ray", config)
    finally:
        ray.shutdown()
    local_rate, local_updates = training_steps_per_second(benchmark, "local", config)
    results.append(("training, in-process, 2 actors", f"{local_rate:,.0f} env steps/s, {local_updates:,.1f} updates/s"))
    results.append(("training, Ray, 2 actors", f"{ray_rate:,.0f} env steps/s, {ray_updates:,.1f} updates/s"))
    results.append(("Ray / in-process env steps/s", f"{ray_rate / local_rate:.2f}x"))

    load = os.getloadavg()
    print(
        f"\nApe-X throughput on {args.benchmark}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    width = max(len(name) for name, _ in results)
    print("-" * (width + 40))
    for name, value in results:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
