"""The Ray executor: actors and the replay are Ray actors, the learner runs in the driver.

Same algorithm as the in-process executor (`algorithm.py`), run asynchronously as in Ape-X:
each actor process runs whole episodes with its own network copy and pushes their transitions,
with its initial priorities, straight into the replay actor; the driver samples batches from the
replay (one batch prefetched while it learns), sends back the new priorities, and every
`weight_sync_period` updates puts the weights into the object store once and hands the reference
to every actor. The learner never runs ahead of the replay ratio (`env_steps_per_update`).

`ray.init()` starts a local Ray with this machine's cores unless an `address` joins a running
cluster (`ray start --head` on one machine, `--address` on the others). Ray is imported only here.

Resume: a checkpoint holds the learner, the replay and the counters; actors start fresh episodes
with generators derived from the seed and the step count. A Ray run is not bit-reproducible
(actors race), which is what the in-process executor is for.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from rlnas.agents.apex.algorithm import Actor
from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.apex.train import TrainingRun
from rlnas.agents.qnetwork import QNetwork, QNetworkConfig
from rlnas.errors import CheckpointError, ConfigError


class ReplayServer:
    """The prioritized replay behind a Ray actor (its sampling generator lives here)."""

    def __init__(self, config: ApeXConfig, layout: dict, seed_entropy: list[int]):
        self.replay = PrioritizedReplay(config.replay_capacity, config.priority_alpha, config.priority_epsilon, layout)
        self.rng = np.random.default_rng(np.random.SeedSequence(seed_entropy))

    def add(self, transitions: dict, priorities: np.ndarray) -> int:
        self.replay.add(transitions, priorities)
        return len(self.replay)

    def size(self) -> int:
        return len(self.replay)

    def sample(self, batch_size: int, beta: float):
        return self.replay.sample(batch_size, beta, self.rng)

    def update_priorities(self, rows: np.ndarray, priorities: np.ndarray) -> None:
        self.replay.update_priorities(rows, priorities)

    def state_dict(self) -> dict:
        return {"replay": self.replay.state_dict(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.replay.load_state_dict(state["replay"])
        self.rng.bit_generator.state = state["rng"]


class RemoteActor:
    """An `Actor` in its own process: loads the benchmark by name, pushes episodes to the replay."""

    def __init__(
        self,
        benchmark: str,
        data,
        config: ApeXConfig,
        index: int,
        network_config: QNetworkConfig,
        weights: dict,
        replay,
        generation: int,
    ):
        from rlnas.benchmarks import load_benchmark

        torch.set_num_threads(1)
        # a resumed run's actors get fresh generators: derived from the seed and the resume point
        config = config.replace(seed=int(np.random.SeedSequence([config.seed, 3, generation]).generate_state(1)[0]))
        network = QNetwork(network_config)
        network.load_state_dict(weights)
        self.actor = Actor(load_benchmark(benchmark, data), config, index, network)
        self.replay = replay

    def set_weights(self, weights: dict) -> None:
        self.actor.network.load_state_dict(weights)

    def run(self, episodes: int) -> tuple[int, list[dict]]:
        import ray

        all_stats = []
        steps = 0
        for _ in range(episodes):
            transitions, priorities, stats = self.actor.run_episode()
            ray.get(self.replay.add.remote(transitions, priorities))
            steps += len(priorities)
            all_stats.append(stats)
        return steps, all_stats


class RayExecutor:
    def __init__(self, run: TrainingRun, address: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("--executor ray needs Ray: pip install 'ray>=2.9'") from exc
        self.ray = ray
        self.run = run
        self.address = address
        self.owns_ray = False

    def _start(self) -> None:
        ray, run, cfg = self.ray, self.run, self.run.config
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            self.owns_ray = True
        total_cpus = ray.cluster_resources().get("CPU", 1.0)
        actor_cpus = min(1.0, total_cpus / cfg.actors)
        replay_cls = ray.remote(num_cpus=0)(ReplayServer)
        actor_cls = ray.remote(num_cpus=actor_cpus)(RemoteActor)
        self.replay = replay_cls.remote(cfg, run.layout, [cfg.seed, 2])
        generation = 0
        if run.checkpoint_state is not None:
            state = run.restore()
            if "replay_server" not in state:
                raise CheckpointError("the checkpoint was written by another executor; resume with that one")
            ray.get(self.replay.load_state_dict.remote(state["replay_server"]))
            generation = run.counters["env_steps"]
        weights = ray.put(run.learner.actor_weights())
        self.actors = [
            actor_cls.remote(run.spec.benchmark, run.data, cfg, i, run.network_config, weights, self.replay, generation)
            for i in range(cfg.actors)
        ]

    def state_dict(self) -> dict:
        return {"replay_server": self.ray.get(self.replay.state_dict.remote())}

    def train(self) -> dict:
        ray, run, cfg = self.ray, self.run, self.run.config
        learner = run.learner
        self._start()
        run.last_checkpoint = time.monotonic()
        row_every = cfg.actors * cfg.envs_per_actor * cfg.horizon
        next_row = run.counters["env_steps"] + row_every
        replay_size = ray.get(self.replay.size.remote())
        pending = {actor.run.remote(1): i for i, actor in enumerate(self.actors)}
        prefetched = None
        try:
            while run.counters["env_steps"] < cfg.total_env_steps and not run.time_is_up():
                owed = (run.counters["env_steps"] - cfg.learning_starts) // cfg.env_steps_per_update - learner.updates
                can_learn = owed > 0 and replay_size >= cfg.batch_size
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0 if can_learn else 1.0)
                for ref in ready:
                    index = pending.pop(ref)
                    steps, stats = ray.get(ref)
                    run.counters["env_steps"] += steps
                    replay_size = min(cfg.replay_capacity, replay_size + steps)
                    for s in stats:
                        run.record_episodes(s)
                    pending[self.actors[index].run.remote(1)] = index
                if can_learn:
                    beta = cfg.beta(run.counters["env_steps"])
                    if prefetched is None:
                        prefetched = self.replay.sample.remote(cfg.batch_size, beta)
                    rows, weights, batch = ray.get(prefetched)
                    # arrays from the object store are read-only; torch wants writable ones
                    batch, weights = {k: np.array(v) for k, v in batch.items()}, np.array(weights)
                    prefetched = self.replay.sample.remote(cfg.batch_size, beta) if owed > 1 else None
                    result = learner.update(batch, weights)
                    self.replay.update_priorities.remote(rows, result["td_abs"])
                    run.record_update(result)
                    if learner.updates - run.counters["last_sync"] >= cfg.weight_sync_period:
                        weights_ref = ray.put(learner.actor_weights())
                        for actor in self.actors:
                            actor.set_weights.remote(weights_ref)
                        run.counters["last_sync"] = learner.updates
                if run.counters["env_steps"] >= next_row:
                    run.write_row(replay_size)
                    next_row = run.counters["env_steps"] + row_every
                    if run.checkpoint_due():
                        run.save(self.state_dict())
            # the episodes under way finish and count, so that no pushed data is left uncounted
            for ref, _index in list(pending.items()):
                steps, stats = ray.get(ref)
                run.counters["env_steps"] += steps
                for s in stats:
                    run.record_episodes(s)
            pending = {}
            if run.counters["env_steps"] > run.last_row.get("env_steps", -1):
                run.write_row(ray.get(self.replay.size.remote()))
            run.save(self.state_dict())
        finally:
            run.close()
            for actor in getattr(self, "actors", []):
                ray.kill(actor)
            if getattr(self, "replay", None) is not None:
                ray.kill(self.replay)
            if self.owns_ray:
                ray.shutdown()
        return run.summary()
