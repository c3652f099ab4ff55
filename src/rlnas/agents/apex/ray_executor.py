"""The Ray executor: actors and the replay are Ray actors, the learner runs in the driver.

Same algorithm as the in-process executor (`algorithm.py`), run asynchronously as in Ape-X:
each actor process runs an episode at a time with its own network copy and pushes the transitions,
with their initial priorities, straight into the replay actor; the driver samples batches from the
replay (one batch prefetched while it learns) and sends back the new priorities. Every
`weight_sync_period` updates the driver puts the weights into the object store once; each episode
request carries the latest version, and an actor whose copy is older fetches it first.

**Replay ratio.** The learner never runs ahead of `env_steps_per_update`, and the actors never run
ahead of the learner by more than one round of episodes (`actors` episodes): an actor that would is
not given its next episode until the learner has caught up. The achieved ratio is the
`steps_per_update` column of metrics.csv.

**Fault tolerance.** Actors are restartable Ray actors (`max_restarts=actor_restarts`, episode
requests retried on the restarted process): a restarted actor gets fresh generators (derived from
the seed and the step count at its first episode) and the learner's current weights with its next
episode, and training goes on. The replay server holds the only copy of the replay, so it is not
restarted: when it is lost, or an actor has used up its restarts, the run ends with a one-line
`WorkerLostError` naming the last checkpoint, and `rlnas train --resume DIR` continues from it.

`ray.init()` starts a local Ray with this machine's cores unless an `address` joins a running
cluster (`ray start --head` on one machine, `--address` on the others); a Ray this executor started
is shut down at the end. Ray is imported only when a Ray run starts.

Resume: a checkpoint holds the learner, the replay and the counters; actors start fresh episodes.
A Ray run is not bit-reproducible (actors race), which is what the in-process executor is for.
"""

from __future__ import annotations

import uuid

import numpy as np
import torch

from rlnas.agents.apex.algorithm import Actor
from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.apex.run import CHECKPOINT_FILE, TrainingRun
from rlnas.agents.qnetwork import QNetwork, QNetworkConfig
from rlnas.errors import CheckpointError, RlnasError
from rlnas.ray_cluster import import_ray, start_ray


class WorkerLostError(RlnasError):
    """A Ray worker of a training run was lost beyond what the run can recover from."""


class ReplayServer:
    """The prioritized replay behind a Ray actor (its sampling generator lives here); `config` is any
    configuration with replay_capacity, priority_alpha and priority_epsilon (ApeXConfig, GeneralTrainConfig)."""

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
    """An `Actor` in its own process: loads the benchmark by name, pushes episodes to the replay.

    Ray re-runs this constructor with the same arguments when it restarts a lost actor, so nothing
    here depends on the run's progress: weights and generators come with the first episode request.
    The replay server is found by its name (a handle among the arguments would pin them in the
    object store, which Ray warns about for restartable actors).
    """

    def __init__(
        self, benchmark: str, data, config: ApeXConfig, index: int, network_config: QNetworkConfig, replay: str
    ):
        import ray

        from rlnas.benchmarks import load_benchmark

        torch.set_num_threads(1)  # this process exists only for this actor
        self.benchmark = load_benchmark(benchmark, data)
        self.config = config
        self.index = index
        self.replay = ray.get_actor(replay)
        with torch.random.fork_rng(devices=[]):  # the weights arrive with the first request
            self.network = QNetwork(network_config, self.benchmark.space.edit_layout)
        self.weights_version = -1
        self.actor: Actor | None = None
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed

    def run(self, weights_version: int, weights: list, env_steps: int) -> tuple[int, dict, bool]:
        """One episode with weights `weights_version` (`weights`: [its object ref]); returns
        (steps, episode stats, whether this is the first episode of a restarted actor)."""
        import ray

        if weights_version != self.weights_version:
            self.network.load_state_dict(ray.get(weights[0]))
            self.weights_version = weights_version
        if self.actor is None:  # generators derived from the seed and the step count the actor (re)starts at
            seed = int(np.random.SeedSequence([self.config.seed, 3, env_steps]).generate_state(1)[0])
            self.actor = Actor(self.benchmark, self.config.replace(seed=seed), self.index, self.network)
        transitions, priorities, stats = self.actor.run_episode()
        ray.get(self.replay.add.remote(transitions, priorities))
        restarted, self.restarted = self.restarted, False
        return len(priorities), stats, restarted


class RayExecutor:
    def __init__(self, run: TrainingRun, address: str | None = None):
        self.ray = import_ray()
        self.run = run
        self.address = address
        self.owns_ray = False
        self.actors: list = []
        self.replay = None
        self.weights_version = 0
        self.weights_ref = None

    def _start(self) -> None:
        run, cfg = self.run, self.run.config
        ray, self.owns_ray = start_ray(self.address)
        total_cpus = ray.cluster_resources().get("CPU", 1.0)
        actor_cpus = min(1.0, total_cpus / cfg.actors)
        replay_cls = ray.remote(num_cpus=0, max_restarts=0)(ReplayServer)
        actor_cls = ray.remote(num_cpus=actor_cpus, max_restarts=cfg.actor_restarts, max_task_retries=-1)(RemoteActor)
        replay_name = f"rlnas-apex-replay-{uuid.uuid4().hex}"
        self.replay = replay_cls.options(name=replay_name).remote(cfg, run.layout, [cfg.seed, 2])
        if run.checkpoint_state is not None:
            state = run.restore()
            if "replay_server" not in state:
                raise CheckpointError("the checkpoint was written by another executor; resume with that one")
            ray.get(self.replay.load_state_dict.remote(state["replay_server"]))
        run.counters.setdefault("actor_restarts", 0)
        self.weights_ref = ray.put(run.learner.actor_weights())
        self.actors = [
            actor_cls.remote(run.spec.benchmark, run.data, cfg, i, run.network_config, replay_name)
            for i in range(cfg.actors)
        ]

    def state_dict(self) -> dict:
        return {"replay_server": self.ray.get(self.replay.state_dict.remote())}

    def _request(self, index: int):
        """Ask actor `index` for one episode, with the current weights."""
        steps = self.run.counters["env_steps"]
        return self.actors[index].run.remote(self.weights_version, [self.weights_ref], steps)

    def _count(self, result: tuple[int, dict, bool]) -> int:
        steps, stats, restarted = result
        self.run.counters["env_steps"] += steps
        self.run.counters["actor_restarts"] += int(restarted)
        self.run.record_episodes(stats)
        return steps

    def _lost(self) -> WorkerLostError:
        """The one-line error for a worker Ray could not bring back; checkpoints first where the replay survived."""
        run = self.run
        replay_alive = self.replay is not None
        try:
            if replay_alive:
                self.ray.get(self.replay.size.remote(), timeout=30)
        except self.ray.exceptions.RayError:
            replay_alive = False
        steps = run.counters["env_steps"]
        if replay_alive:
            run.save(self.state_dict())
            what = f"an actor was lost more than actor_restarts={run.config.actor_restarts} times"
        else:
            what = "the replay server was lost (it holds the only copy of the replay)"
        if run.checkpoint_steps == 0 and not (run.out / CHECKPOINT_FILE).exists():
            return WorkerLostError(
                f"{what} at {steps:,} environment steps, before the first checkpoint; start again with --out {run.out}"
            )
        return WorkerLostError(
            f"{what} at {steps:,} environment steps; rlnas train --resume {run.out} continues from the last "
            f"checkpoint ({run.checkpoint_steps:,} steps)"
        )

    def train(self) -> dict:
        ray = self.ray
        try:
            self._start()
            return self._train()
        except ray.exceptions.RayActorError as exc:  # an actor past its restarts, or the replay server
            raise self._lost() from exc
        finally:
            self.run.close()
            for actor in self.actors:
                ray.kill(actor)
            if self.replay is not None:
                ray.kill(self.replay)
            if self.owns_ray:
                ray.shutdown()

    def _train(self) -> dict:
        ray, run, cfg = self.ray, self.run, self.run.config
        learner = run.learner
        episode_steps = cfg.envs_per_actor * cfg.horizon
        row_every = cfg.actors * episode_steps
        next_row = run.counters["env_steps"] + row_every
        replay_size = ray.get(self.replay.size.remote())
        pending: dict = {}  # episode request -> actor index
        idle = list(range(cfg.actors))  # actors held back by the replay ratio
        prefetched = None
        while run.counters["env_steps"] < cfg.total_env_steps and not run.time_is_up():
            owed = (run.counters["env_steps"] - cfg.learning_starts) // cfg.env_steps_per_update - learner.updates
            can_learn = owed > 0 and replay_size >= cfg.batch_size
            # the steps collected or under way may lead the learner's (updates * ratio) by one round at most
            committed = run.counters["env_steps"] + len(pending) * episode_steps
            allowed = cfg.learning_starts + learner.updates * cfg.env_steps_per_update + row_every
            while idle and (committed < allowed or not can_learn):
                index = idle.pop(0)
                pending[self._request(index)] = index
                committed += episode_steps
            if pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0 if can_learn else 1.0)
                for ref in ready:
                    index = pending.pop(ref)
                    replay_size = min(cfg.replay_capacity, replay_size + self._count(ray.get(ref)))
                    idle.append(index)
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
                    self.weights_ref = ray.put(learner.actor_weights())
                    self.weights_version += 1
                    run.counters["last_sync"] = learner.updates
            if run.counters["env_steps"] >= next_row:
                run.write_row(replay_size)
                next_row = run.counters["env_steps"] + row_every
                if run.checkpoint_due():
                    run.save(self.state_dict())
        # the episodes under way finish and count, so that no pushed data is left uncounted
        for ref in list(pending):
            self._count(ray.get(ref))
        if run.counters["env_steps"] > run.last_row.get("env_steps", -1):
            run.write_row(ray.get(self.replay.size.remote()))
        run.save(self.state_dict())
        summary = run.summary()
        summary["actor_restarts"] = run.counters["actor_restarts"]
        return summary
