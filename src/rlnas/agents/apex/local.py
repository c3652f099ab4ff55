"""The in-process executor: actors stepped in turn in this process, deterministic for a seed.

Its schedule counts environment steps, never time. Each round steps every actor once
(`envs_per_actor` steps each); after it, the learner makes the updates it owes,
`(env_steps - learning_starts) // env_steps_per_update - updates`, and the actors' shared network
copy is refreshed every `weight_sync_period` updates. Checkpoints and the stop are taken only where
all episodes have ended, so a checkpoint captures the whole state (networks, optimizer, replay,
random generators, counters) and a resumed run continues bit for bit as the uninterrupted run
would have. Wall-clock time decides only *when* a checkpoint is written and the `--minutes` cap,
never what is computed.
"""

from __future__ import annotations

import numpy as np
import torch

from rlnas.agents.apex.algorithm import Actor
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.apex.run import TrainingRun
from rlnas.agents.qnetwork import QNetwork
from rlnas.errors import CheckpointError


class LocalExecutor:
    """Actors stepped in turn in this process; deterministic for a given seed."""

    def __init__(self, run: TrainingRun):
        self.run = run
        cfg = run.config
        # the actors share one network copy (CPU), refreshed by the periodic broadcast; its random
        # initialisation is overwritten at once, so it must not advance torch's global generator
        with torch.random.fork_rng(devices=[]):
            self.actor_network = QNetwork(run.network_config, run.benchmark.space.edit_layout)
        self.actors = [Actor(run.benchmark, cfg, i, self.actor_network) for i in range(cfg.actors)]
        self.replay = PrioritizedReplay(cfg.replay_capacity, cfg.priority_alpha, cfg.priority_epsilon, run.layout)
        self.sample_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2]))
        if run.checkpoint_state is not None:
            self._load(run.restore())
        else:
            self.actor_network.load_state_dict(run.learner.actor_weights())

    def state_dict(self) -> dict:
        return {
            "actor_network": self.actor_network.state_dict(),
            "actors": [actor.state_dict() for actor in self.actors],
            "replay": self.replay.state_dict(),
            "sample_rng": self.sample_rng.bit_generator.state,
        }

    def _load(self, state: dict) -> None:
        if "actors" not in state:
            raise CheckpointError("the checkpoint was written by another executor; resume with that one")
        self.actor_network.load_state_dict(state["actor_network"])
        for actor, actor_state in zip(self.actors, state["actors"], strict=True):
            actor.load_state_dict(actor_state)
        self.replay.load_state_dict(state["replay"])
        self.sample_rng.bit_generator.state = state["sample_rng"]

    def learn(self) -> None:
        """The updates the learner owes at the current step count (the replay ratio)."""
        run, cfg, learner = self.run, self.run.config, self.run.learner
        owed = (run.counters["env_steps"] - cfg.learning_starts) // cfg.env_steps_per_update - learner.updates
        while owed > 0 and len(self.replay) >= cfg.batch_size:
            beta = cfg.beta(run.counters["env_steps"])
            rows, weights, batch = self.replay.sample(cfg.batch_size, beta, self.sample_rng)
            result = learner.update(batch, weights)
            self.replay.update_priorities(rows, result["td_abs"])
            run.record_update(result)
            owed -= 1
            if learner.updates - run.counters["last_sync"] >= cfg.weight_sync_period:
                self.actor_network.load_state_dict(learner.actor_weights())
                run.counters["last_sync"] = learner.updates

    def train(self) -> dict:
        run, cfg = self.run, self.run.config
        steps_per_round = cfg.actors * cfg.envs_per_actor
        try:
            while run.counters["env_steps"] < cfg.total_env_steps and not run.time_is_up():
                while True:  # one round of episodes, step by step
                    for actor in self.actors:
                        out = actor.step()
                        if out is not None:
                            transitions, priorities, stats = out
                            self.replay.add(transitions, priorities)
                            run.record_episodes(stats)
                    run.counters["env_steps"] += steps_per_round
                    self.learn()
                    if self.actors[0].t is None:
                        break
                run.write_row(len(self.replay))
                if run.checkpoint_due():
                    run.save(self.state_dict())
            run.save(self.state_dict())
        finally:
            run.close()
        return run.summary()
