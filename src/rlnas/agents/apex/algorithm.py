"""Ape-X DQN (Horgan et al. 2018) for the search MDP, top to bottom: returns, targets, actor, learner.

* Actors step their environments with epsilon-greedy over the masked Q-values of their own copy
  of the network (each environment slot has its own epsilon from the Ape-X ladder). At the end of
  an episode they turn it into n-step transitions and compute each one's initial priority, the
  absolute n-step TD error under their copy, from Q-values they already computed for acting.
* Episodes end by truncation at the horizon: the n-step return of the last steps is shorter and
  is bootstrapped from the final observation (partial-episode bootstrapping); only a terminal
  state (which this MDP never has) would cut the bootstrap.
* The learner samples by priority, corrects with importance weights, and regresses Q(s, a) on
  the double-DQN target R + gamma^m * Q_target(s', argmax_a Q_online(s', a)), with a Huber loss;
  new |TD errors| become the priorities; the target network is a periodic copy.

The executors (`local.py`, `ray_executor.py`) decide where actors run and when the learner
updates; this module is the algorithm they share.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.qnetwork import OBS_KEYS, QNetwork, QNetworkConfig, obs_to_tensors
from rlnas.benchmarks import Benchmark
from rlnas.env import ArchitectureSearchEnv
from rlnas.spaces.layout import EditLayout


# ---------------------------------------------------------------------- n-step returns
def n_step_returns(
    rewards: np.ndarray, gamma: float, n: int, terminated: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step returns of an episode of T steps (rewards: (T,) or (T, E)).

    Returns (returns, discounts, bootstrap_index) per step t: R_t = sum_{k<m} gamma^k r_{t+k}
    with m = min(n, T - t); the target bootstraps from observation t + m with weight gamma^m.
    An episode cut by truncation keeps that bootstrap; only a terminated episode sets the
    discount of the steps that reach its final observation to 0.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    steps = rewards.shape[0]
    returns = np.zeros_like(rewards)
    m = np.minimum(n, steps - np.arange(steps))
    for k in range(min(n, steps)):
        live = k < m  # steps whose k-th reward is inside the episode
        shifted = np.zeros_like(rewards)
        shifted[: steps - k] = rewards[k:]
        returns += np.where(live.reshape(-1, *([1] * (rewards.ndim - 1))), gamma**k * shifted, 0.0)
    bootstrap_index = np.arange(steps) + m
    discounts = np.broadcast_to((gamma**m).reshape(-1, *([1] * (rewards.ndim - 1))), rewards.shape).copy()
    if terminated:
        discounts[bootstrap_index == steps] = 0.0
    return returns, discounts, bootstrap_index


def greedy_values(q: np.ndarray) -> np.ndarray:
    """max_a Q(s, a) over the valid actions (masked entries are -inf)."""
    return q.max(axis=-1)


def double_dqn_targets(
    returns: torch.Tensor, discounts: torch.Tensor, next_q_online: torch.Tensor, next_q_target: torch.Tensor
) -> torch.Tensor:
    """R + discount * Q_target(s', argmax_a Q_online(s', a)); masked actions (-inf) are never chosen."""
    best = next_q_online.argmax(dim=1, keepdim=True)
    bootstrap = next_q_target.gather(1, best).squeeze(1)
    bootstrap = torch.where(discounts > 0, bootstrap, torch.zeros_like(bootstrap))
    return returns + discounts * bootstrap


def replay_layout(observation_space) -> dict[str, tuple[tuple, np.dtype]]:
    """Row layout of a replay transition: observation, action, n-step return, discount, next observation."""
    layout = {}
    for key in OBS_KEYS:
        box = observation_space[key]
        layout[key] = (box.shape, box.dtype)
        layout["next_" + key] = (box.shape, box.dtype)
    layout["action"] = ((), np.dtype(np.int64))
    layout["return"] = ((), np.dtype(np.float32))
    layout["discount"] = ((), np.dtype(np.float32))
    return layout


def split_batch(batch: dict[str, np.ndarray], device) -> tuple[dict, dict, torch.Tensor, torch.Tensor, torch.Tensor]:
    obs = obs_to_tensors({k: batch[k] for k in OBS_KEYS}, device)
    next_obs = obs_to_tensors({k: batch["next_" + k] for k in OBS_KEYS}, device)
    action = torch.as_tensor(batch["action"], device=device)
    ret = torch.as_tensor(batch["return"], device=device)
    discount = torch.as_tensor(batch["discount"], device=device)
    return obs, next_obs, action, ret, discount


# ---------------------------------------------------------------------- the actor
class Actor:
    """Steps `envs_per_actor` environments in lockstep; emits an episode's transitions at its end.

    All environments of an actor share the horizon, so they start and end episodes together; the
    executors take checkpoints only between episodes, where an actor's whole state is its random
    generators (no episode in flight).
    """

    def __init__(self, benchmark: Benchmark, config: ApeXConfig, index: int, network: QNetwork):
        self.config = config
        self.index = index
        count = config.envs_per_actor
        self.envs = [ArchitectureSearchEnv(benchmark, **config.env_kwargs()) for _ in range(count)]
        self.epsilons = np.array(config.epsilons()[index * count : (index + 1) * count])
        seeds = np.random.SeedSequence([config.seed, 1, index])
        action_seed, *env_seeds = seeds.spawn(1 + count)
        self.rng = np.random.default_rng(action_seed)
        self.env_seeds = [int(s.generate_state(1, np.uint64)[0]) for s in env_seeds]
        self.network = network.eval()
        self.layout = replay_layout(self.envs[0].observation_space)
        self.started = False  # whether the envs were seeded by a first reset
        self.t: int | None = None  # step within the current episode; None between episodes
        self.episodes = 0

    # --------------------------------------------------------------- state between episodes
    def state_dict(self) -> dict:
        if self.t is not None:
            raise RuntimeError("an actor's state is taken between episodes only")
        return {
            "rng": self.rng.bit_generator.state,
            "env_rngs": [env.np_random.bit_generator.state for env in self.envs],
            "started": self.started,
            "episodes": self.episodes,
        }

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        for env, env_state in zip(self.envs, state["env_rngs"], strict=True):
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = env_state
            env.np_random = generator
        self.started = state["started"]
        self.episodes = state["episodes"]
        self.t = None

    # --------------------------------------------------------------- acting
    @torch.inference_mode()
    def q_values(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.network(obs_to_tensors(obs)).numpy()

    def _begin_episode(self) -> None:
        horizon, count = self.config.horizon, len(self.envs)
        if self.started:
            first = [env.reset()[0] for env in self.envs]
        else:
            first = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, self.env_seeds, strict=True)]
            self.started = True
        self.obs = {
            k: np.zeros((horizon + 1, count, *shape), dtype=dtype)
            for k, (shape, dtype) in self.layout.items()
            if k in OBS_KEYS
        }
        for k in OBS_KEYS:
            self.obs[k][0] = np.stack([o[k] for o in first])
        num_edits = self.envs[0].num_edits
        self.q = np.zeros((horizon + 1, count, num_edits), dtype=np.float32)
        self.q[0] = self.q_values({k: v[0] for k, v in self.obs.items()})
        self.actions = np.zeros((horizon, count), dtype=np.int64)
        self.rewards = np.zeros((horizon, count), dtype=np.float64)
        self.t = 0

    def choose_actions(self, q: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Epsilon-greedy per env slot; exploration picks uniformly among the valid actions."""
        explore = self.rng.random(len(q)) < self.epsilons
        pick = self.rng.random(len(q))
        actions = q.argmax(axis=1)
        for e in np.flatnonzero(explore):
            valid = np.flatnonzero(mask[e])
            actions[e] = valid[int(pick[e] * len(valid))]
        return actions

    def step(self) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]] | None:
        """One step of every env; at the episode's end, (transitions, priorities, episode stats)."""
        if self.t is None:
            self._begin_episode()
        t = self.t
        actions = self.choose_actions(self.q[t], self.obs["action_mask"][t])
        results = [env.step(int(a)) for env, a in zip(self.envs, actions, strict=True)]
        self.actions[t] = actions
        self.rewards[t] = [r[1] for r in results]
        for k in OBS_KEYS:
            self.obs[k][t + 1] = np.stack([r[0][k] for r in results])
        self.q[t + 1] = self.q_values({k: v[t + 1] for k, v in self.obs.items()})
        self.t = t + 1
        if self.t < self.config.horizon:
            return None
        infos = [r[4] for r in results]
        transitions, priorities = self._episode_transitions(terminated=any(r[2] for r in results))
        stats = {
            "best_score": np.array([i["best_score"] for i in infos]),
            "best_shaped": np.array([i["best_shaped"] for i in infos]),
            "unique_queries": np.array([i["unique_queries"] for i in infos]),
            "return": self.rewards.sum(axis=0),
            "epsilon": self.epsilons.copy(),
        }
        self.t = None
        self.episodes += 1
        return transitions, priorities, stats

    def run_episode(self) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
        while True:
            out = self.step()
            if out is not None:
                return out

    def _episode_transitions(self, terminated: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The episode's n-step transitions, step-major, with their initial priorities."""
        cfg = self.config
        horizon, count = self.actions.shape
        returns, discounts, boot = n_step_returns(self.rewards, cfg.gamma, cfg.n_step, terminated)
        steps = np.arange(horizon)
        q_taken = np.take_along_axis(self.q[:horizon], self.actions[..., None], axis=2)[..., 0]
        bootstrap_value = np.where(discounts > 0, greedy_values(self.q[boot]), 0.0)
        priorities = np.abs(returns + discounts * bootstrap_value - q_taken).reshape(-1)
        transitions = {}
        for k in OBS_KEYS:
            shape = self.obs[k].shape[2:]
            transitions[k] = self.obs[k][steps].reshape(horizon * count, *shape)
            transitions["next_" + k] = self.obs[k][boot].reshape(horizon * count, *shape)
        transitions["action"] = self.actions.reshape(-1)
        transitions["return"] = returns.reshape(-1).astype(np.float32)
        transitions["discount"] = discounts.reshape(-1).astype(np.float32)
        return transitions, priorities


# ---------------------------------------------------------------------- the learner
class LearnerState:
    """What a DQN learner's copies and checkpoints need (`online`, `target`, `optimizer`, `updates`):
    shared by this learner and the general policy's (`rlnas.agents.general_training.GeneralLearner`)."""

    online: torch.nn.Module
    target: torch.nn.Module
    optimizer: torch.optim.Optimizer
    updates: int

    def actor_weights(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the online weights, for the broadcast to the actors."""
        return {k: v.detach().to("cpu", copy=True) for k, v in self.online.state_dict().items()}

    def state_dict(self) -> dict:
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = state["updates"]


class Learner(LearnerState):
    def __init__(self, network_config: QNetworkConfig, layout: EditLayout, config: ApeXConfig, device: torch.device):
        self.config = config
        self.device = device
        with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the global RNG
            torch.manual_seed(config.seed)
            self.online = QNetwork(network_config, layout)
        self.online.to(device)
        self.target = copy.deepcopy(self.online).eval()
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        self.updates = 0

    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> dict[str, float | np.ndarray]:
        """One gradient step on a prioritized batch; returns the loss and the new |TD errors|."""
        obs, next_obs, action, ret, discount = split_batch(batch, self.device)
        weights_t = torch.as_tensor(weights, device=self.device)
        q = self.online(obs).gather(1, action[:, None]).squeeze(1)
        with torch.no_grad():
            target = double_dqn_targets(ret, discount, self.online(next_obs), self.target(next_obs))
        td = target - q
        loss = (weights_t * F.huber_loss(q, target, reduction="none")).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.online.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        if self.updates % self.config.target_update_period == 0:
            self.target.load_state_dict(self.online.state_dict())
        return {
            "loss": float(loss.detach()),
            "q_mean": float(q.detach().mean()),
            "grad_norm": float(grad_norm),
            "td_abs": td.detach().abs().cpu().numpy(),
        }
