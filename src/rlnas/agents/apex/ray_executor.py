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
from collections.abc import Callable

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


class RemoteActorBase:
    """What every Ray actor process of a training shares: one torch thread, the replay server found by its
    name (a handle among the arguments would pin them in the object store, which Ray warns about for
    restartable actors), a network copy whose weights arrive with the requests, and whether this process
    is a restart.

    Ray re-runs the constructor with the same arguments when it restarts a lost actor, so nothing here
    depends on the run's progress: weights and generators come with the first request.
    """

    def __init__(self, replay: str, make_network: Callable[[], torch.nn.Module]):
        import ray

        torch.set_num_threads(1)  # this process exists only for this actor
        self.replay = ray.get_actor(replay)
        with torch.random.fork_rng(devices=[]):  # the weights arrive with the first request
            self.network = make_network()
        self.weights_version = -1
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed

    def use_weights(self, weights_version: int, weights: list) -> None:
        """Fetch the weights `weights_version` (`weights`: [its object ref]) unless the copy has them."""
        import ray

        if weights_version != self.weights_version:
            self.network.load_state_dict(ray.get(weights[0]))
            self.weights_version = weights_version

    def first_after_restart(self) -> bool:
        """True once, for the first request a restarted actor answers."""
        restarted, self.restarted = self.restarted, False
        return restarted


class ReplayRatioGate:
    """Ape-X's replay ratio across Ray actors: the environment steps collected or under way may lead the
    learner's (`learning_starts` + updates * `env_steps_per_update`) by one round of requests at most; an
    actor that would run further ahead waits idle for its next request until the learner has caught up."""

    def __init__(self, ray, actors: list, request_steps: int, learning_starts: int, env_steps_per_update: int):
        self.ray, self.actors, self.request_steps = ray, actors, request_steps
        self.learning_starts, self.env_steps_per_update = learning_starts, env_steps_per_update
        self.pending: dict = {}  # request -> actor index
        self.idle = list(range(len(actors)))

    def submit(self, env_steps: int, updates: int, can_learn: bool, weights_version: int, weights_ref) -> None:
        """Ask every idle actor the ratio allows (all of them while the learner cannot learn, so that the replay
        fills) to `run(weights_version, [weights_ref], env_steps)`: the request both kinds of actor answer."""
        committed = env_steps + len(self.pending) * self.request_steps
        allowed = self.learning_starts + updates * self.env_steps_per_update + len(self.actors) * self.request_steps
        while self.idle and (committed < allowed or not can_learn):
            index = self.idle.pop(0)
            self.pending[self.actors[index].run.remote(weights_version, [weights_ref], env_steps)] = index
            committed += self.request_steps

    def finished(self, wait: bool) -> list:
        """The results of the requests finished by now (waiting up to a second for one when `wait`)."""
        if not self.pending:
            return []
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=1.0 if wait else 0)
        results = []
        for ref in ready:
            self.idle.append(self.pending.pop(ref))
            results.append(self.ray.get(ref))
        return results

    def drain(self) -> list:
        """The results of every request under way (their data is in the replay already, so it must count)."""
        results = [self.ray.get(ref) for ref in self.pending]
        self.idle.extend(self.pending.values())
        self.pending.clear()
        return results


class RemoteActor(RemoteActorBase):
    """An `Actor` in its own process: loads the benchmark by name, pushes episodes to the replay."""

    def __init__(
        self, benchmark: str, data, config: ApeXConfig, index: int, network_config: QNetworkConfig, replay: str
    ):
        from rlnas.benchmarks import load_benchmark

        self.benchmark = load_benchmark(benchmark, data)
        self.config = config
        self.index = index
        super().__init__(replay, lambda: QNetwork(network_config, self.benchmark.space.edit_layout))
        self.actor: Actor | None = None

    def run(self, weights_version: int, weights: list, env_steps: int) -> tuple[int, dict, bool]:
        """One episode with weights `weights_version` (`weights`: [its object ref]); returns
        (steps, episode stats, whether this is the first episode of a restarted actor)."""
        import ray

        self.use_weights(weights_version, weights)
        if self.actor is None:  # generators derived from the seed and the step count the actor (re)starts at
            seed = int(np.random.SeedSequence([self.config.seed, 3, env_steps]).generate_state(1)[0])
            self.actor = Actor(self.benchmark, self.config.replace(seed=seed), self.index, self.network)
        transitions, priorities, stats = self.actor.run_episode()
        ray.get(self.replay.add.remote(transitions, priorities))
        return len(priorities), stats, self.first_after_restart()


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
        gate = ReplayRatioGate(ray, self.actors, episode_steps, cfg.learning_starts, cfg.env_steps_per_update)
        prefetched = None
        while run.counters["env_steps"] < cfg.total_env_steps and not run.time_is_up():
            owed = (run.counters["env_steps"] - cfg.learning_starts) // cfg.env_steps_per_update - learner.updates
            can_learn = owed > 0 and replay_size >= cfg.batch_size
            gate.submit(run.counters["env_steps"], learner.updates, can_learn, self.weights_version, self.weights_ref)
            for result in gate.finished(wait=not can_learn):
                replay_size = min(cfg.replay_capacity, replay_size + self._count(result))
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
        for result in gate.drain():
            self._count(result)
        if run.counters["env_steps"] > run.last_row.get("env_steps", -1):
            run.write_row(ray.get(self.replay.size.remote()))
        run.save(self.state_dict())
        summary = run.summary()
        summary["actor_restarts"] = run.counters["actor_restarts"]
        return summary
