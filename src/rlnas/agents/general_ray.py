"""The Ray executor of a general policy's training: actor processes step their own environments, the learner
runs in the driver. It shares the replay server, the actor processes' base, the replay-ratio gate, the Ray
start and the lost-worker error with the one-benchmark executor (`rlnas.agents.apex.ray_executor`), and the
actor and learner with the in-process `train_general`.

Each `RemoteGeneralActor` loads the task list's benchmarks itself (by name), and keeps a `GeneralActor`
with `envs` environments (its slice of the epsilon ladder over actors * envs) and a network copy. A
request runs `actor_rounds` lockstep steps with the weights it names (fetched from the object store when
newer than the actor's) and pushes every finished episode's transitions, with their initial priorities,
straight into the replay server; episodes carry on across requests. The driver keeps the replay ratio
as the one-benchmark executor does: the learner never runs ahead of `env_steps_per_update`, and the
actors never run ahead of the learner by more than one round of requests.

Fault tolerance: actors are restartable Ray actors (`max_restarts=actor_restarts`, requests retried on
the restarted process). A restarted actor starts fresh episodes (generators derived from the seed and
the step count at its first request; its episodes under way are lost) and gets the current weights with
its next request. The replay server holds the only replay and is not restarted: losing it, or an actor
past its restarts, ends the run with a one-line `WorkerLostError` naming the last checkpoint.

Checkpoints (every `checkpoint_updates` updates and at the end) hold the learner, the replay server's
replay and sampling generator, the counters and the curve; a resume starts every actor on fresh episodes.
A Ray run is not bit-reproducible (the actors race); the in-process executor is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from rlnas.agents.apex.ray_executor import RemoteActorBase, ReplayRatioGate, ReplayServer, WorkerLostError
from rlnas.agents.general_config import GeneralTrainConfig
from rlnas.agents.general_qnetwork import GeneralQNetwork
from rlnas.agents.general_training import (
    GeneralActor,
    GeneralLearner,
    GeneralTrainingResult,
    check_resumable,
    checkpoint_payload,
    load_tasks,
    read_checkpoint,
    task_spec,
    transition_layout,
)
from rlnas.env.search_episode import SearchEpisodeEnv, Task
from rlnas.errors import ConfigError
from rlnas.files import atomic_torch_save
from rlnas.ray_cluster import import_ray, start_ray


class RemoteGeneralActor(RemoteActorBase):
    """A `GeneralActor` in its own process, pushing finished episodes to the replay server."""

    def __init__(self, specs: list[dict], data, config: GeneralTrainConfig, index: int, replay: str):
        self.tasks = load_tasks(specs, data)
        self.config, self.index = config, index
        super().__init__(replay, lambda: GeneralQNetwork(config.network_config()).eval())
        self.actor: GeneralActor | None = None

    def run(self, weights_version: int, weights: list, env_steps: int) -> tuple[int, list[dict], int, bool]:
        """`actor_rounds` lockstep steps with weights `weights_version` (`weights`: [its object ref]); returns
        (steps, rows of the episodes that ended, the replay's size after them or 0, whether this is the
        first request of a restarted actor)."""
        import ray

        c = self.config
        self.use_weights(weights_version, weights)
        if self.actor is None:  # generators derived from the seed and the step count the actor (re)starts at
            seeds = np.random.SeedSequence([c.seed, 4, self.index, env_steps]).spawn(1 + c.envs)
            epsilons = c.epsilons()[self.index * c.envs : (self.index + 1) * c.envs]
            env_seeds = [int(s.generate_state(1)[0]) for s in seeds[1:]]
            self.actor = GeneralActor(self.tasks, c, self.network, epsilons, seeds[0], env_seeds)
        rows, parts = [], []
        for r in range(c.actor_rounds):
            for transitions, priorities, row in self.actor.step():
                row["env_steps"] += r * c.envs
                rows.append(row)
                parts.append((transitions, priorities))
        size = 0
        if parts:
            transitions = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
            size = ray.get(self.replay.add.remote(transitions, np.concatenate([p[1] for p in parts])))
        return c.actor_rounds * c.envs, rows, size, self.first_after_restart()


class GeneralRayExecutor:
    """`train_general` with `actors` Ray actor processes (see the module doc)."""

    def __init__(
        self,
        tasks: Sequence[Task],
        config: GeneralTrainConfig,
        device: str | torch.device = "cpu",
        *,
        data: str | Path | None = None,
        address: str | None = None,
    ):
        self.ray = import_ray()
        self.tasks, self.config, self.device, self.data, self.address = list(tasks), config, device, data, address
        self.actors: list = []
        self.replay = None
        self.checkpoint: Path | None = None
        self.save: Callable[[], None] | None = None
        self.counters = {"env_steps": 0, "wall_seconds": 0.0, "actor_restarts": 0}

    def train(
        self,
        *,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        metadata: dict | None = None,
        progress: Callable[[dict], None] | None = None,
    ) -> GeneralTrainingResult:
        """Train (or resume the run saved at `checkpoint`); the arguments are `train_general`'s.

        A Ray this call starts is shut down at its end; one it finds running is left running.
        """
        if resume and checkpoint is None:
            raise ConfigError("a resume needs the checkpoint to continue from")
        ray = self.ray
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        owns_ray = False
        try:
            _, owns_ray = start_ray(self.address)
            return self._train(resume, dict(metadata or {}), progress)
        except ray.exceptions.RayActorError as exc:  # an actor past its restarts, or the replay server
            raise self._lost() from exc
        finally:
            for actor in self.actors:
                ray.kill(actor)
            if self.replay is not None:
                ray.kill(self.replay)
            if owns_ray:
                ray.shutdown()

    def _train(self, resume: bool, metadata: dict, progress: Callable[[dict], None] | None) -> GeneralTrainingResult:
        ray, c, counters = self.ray, self.config, self.counters
        seeds = np.random.SeedSequence(c.seed).spawn(3)
        learner = GeneralLearner(c, self.device, int(seeds[2].generate_state(1)[0]))  # as train_general's
        layout = transition_layout(SearchEpisodeEnv(self.tasks, c.episode).observation_space)
        replay_name = f"rlnas-general-replay-{uuid.uuid4().hex}"
        replay_cls = ray.remote(num_cpus=0, max_restarts=0)(ReplayServer)
        self.replay = replay_cls.options(name=replay_name).remote(c, layout, [c.seed, 2])
        episodes: list[dict] = []
        if resume:
            state = read_checkpoint(self.checkpoint)
            check_resumable(state, "ray", c, self.tasks)
            learner.load_state_dict(state["learner"])
            ray.get(self.replay.load_state_dict.remote(state["replay_server"]))
            episodes, metadata = list(state["episodes"]), {**state["metadata"], **metadata}
            counters.update(state["counters"])
        started = time.perf_counter()

        def save() -> None:
            now = {**counters, "wall_seconds": counters["wall_seconds"] + time.perf_counter() - started}
            replay_state = ray.get(self.replay.state_dict.remote())
            payload = checkpoint_payload(
                "ray", c, self.tasks, now, episodes, learner, metadata, replay_server=replay_state
            )
            atomic_torch_save(payload, self.checkpoint)

        self.save = save if self.checkpoint is not None else None
        cpus = ray.cluster_resources().get("CPU", 1.0)
        actor_cls = ray.remote(num_cpus=min(1.0, cpus / c.actors), max_restarts=c.actor_restarts, max_task_retries=-1)(
            RemoteGeneralActor
        )
        specs = [task_spec(t) for t in self.tasks]
        self.actors = [actor_cls.remote(specs, self.data, c, i, replay_name) for i in range(c.actors)]
        weights_version, weights_ref, last_sync = 0, ray.put(learner.actor_weights()), learner.updates
        request_steps = c.actor_rounds * c.envs
        replay_size = ray.get(self.replay.size.remote())
        next_save = (learner.updates // c.checkpoint_updates + 1) * c.checkpoint_updates
        gate = ReplayRatioGate(ray, self.actors, request_steps, c.learning_starts, c.env_steps_per_update)

        def count(result: tuple[int, list[dict], int, bool]) -> None:
            nonlocal replay_size
            steps, rows, size, restarted = result
            for row in rows:
                row["env_steps"] += counters["env_steps"]
            episodes.extend(rows)
            counters["env_steps"] += steps
            counters["actor_restarts"] += int(restarted)
            replay_size = max(replay_size, size)

        while counters["env_steps"] < c.total_env_steps:
            env_steps = counters["env_steps"]
            can_learn = learner.owed(env_steps) > 0 and replay_size >= c.batch_size
            gate.submit(env_steps, learner.updates, can_learn, weights_version, weights_ref)
            for result in gate.finished(wait=not can_learn):
                count(result)
            if can_learn:
                rows, weights, batch = ray.get(self.replay.sample.remote(c.batch_size, c.beta(env_steps)))
                # arrays from the object store are read-only; torch wants writable ones
                batch, weights = {k: np.array(v) for k, v in batch.items()}, np.array(weights)
                self.replay.update_priorities.remote(rows, learner.update(batch, weights))
                if learner.updates - last_sync >= c.weight_sync_period:
                    weights_ref, weights_version, last_sync = (
                        ray.put(learner.actor_weights()),
                        weights_version + 1,
                        learner.updates,
                    )
                if self.save is not None and learner.updates >= next_save:
                    self.save()
                    next_save = (learner.updates // c.checkpoint_updates + 1) * c.checkpoint_updates
            if progress is not None:
                progress({"env_steps": counters["env_steps"], "updates": learner.updates, "episodes": episodes})
        for result in gate.drain():
            count(result)
        if self.save is not None:
            self.save()
        info = {
            "seed": c.seed,
            "env_steps": counters["env_steps"],
            "updates": learner.updates,
            "actor_restarts": counters["actor_restarts"],
            **metadata,
        }
        wall = counters["wall_seconds"] + time.perf_counter() - started
        return GeneralTrainingResult(learner.policy(self.tasks, info), episodes, wall)

    def _lost(self) -> WorkerLostError:
        """The one-line error for a worker Ray could not bring back; checkpoints first where the replay survived."""
        ray, steps = self.ray, self.counters["env_steps"]
        try:
            alive = self.replay is not None and ray.get(self.replay.size.remote(), timeout=30) >= 0
        except ray.exceptions.RayError:
            alive = False
        if alive:
            what = f"an actor was lost more than actor_restarts={self.config.actor_restarts} times"
            if self.save is not None:
                self.save()
        else:
            what = "the replay server was lost (it holds the only copy of the replay)"
        if self.checkpoint is None or not self.checkpoint.is_file():
            return WorkerLostError(f"{what} at {steps:,} environment steps, before any checkpoint; start again")
        folder = self.checkpoint.parent
        return WorkerLostError(
            f"{what} at {steps:,} environment steps; rlnas train --resume {folder} continues from the last checkpoint"
        )
