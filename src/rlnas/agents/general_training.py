"""Ape-X training of a general policy on a distribution of search tasks, in-process and bit-reproducible.

The algorithm is `rlnas.agents.apex`'s (n-step double DQN, prioritized replay, a target network,
an epsilon ladder over the environments, actor-side initial priorities), here over
`SearchEpisodeEnv` episodes (whole searches of variable length, terminal when the budget is spent,
bootstrapped when the step cap cuts them) and the one network for every space. Every environment
draws its task per episode from the task list; the actor steps all environments in lockstep with one
batched forward pass and emits an episode's transitions when it ends. Everything random comes from
generators seeded by `seed`; the network is initialised under a forked torch generator; so two runs
of the same configuration in one process give the same weights bit for bit.

A task file (TOML) names the tasks and, optionally, the episode rules:

    [episode]                 # EpisodeConfig fields (optional)
    num_elites = 3

    [[task]]
    benchmark = "nb201-cifar10"
    budget = [20, 200]        # unique queries, drawn log-uniformly per episode
    noise = 0.02              # Gaussian noise on the observed scores (units of the reward scale)
    repeat = "random"         # a training repeat drawn per query, where the benchmark has several
"""

from __future__ import annotations

import copy
import time
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rlnas.agents.apex.algorithm import double_dqn_targets, n_step_returns
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.general_policy import GeneralPolicy
from rlnas.agents.general_qnetwork import (
    OBS_KEYS,
    GeneralQNetwork,
    GeneralQNetworkConfig,
    obs_to_tensors,
    stack_observations,
)
from rlnas.benchmarks import REPEATS, load_benchmark
from rlnas.env.search_episode import EpisodeConfig, SearchEpisodeEnv, Task
from rlnas.errors import ConfigError


@dataclass(frozen=True)
class GeneralTrainConfig:
    """Hyperparameters of a general policy's training."""

    seed: int = 0
    """Seeds every generator of the run (environments, exploration, replay sampling, initial weights)."""
    total_env_steps: int = 20_000
    """Environment steps of the run (all environments together)."""
    envs: int = 4
    """Environments the actor steps in lockstep, each with its own epsilon."""
    epsilon_base: float = 0.4
    """Ape-X's ladder: environment i explores with epsilon_base ** (1 + epsilon_exponent * i / (envs - 1))."""
    epsilon_exponent: float = 7.0
    """See epsilon_base."""
    gamma: float = 0.99
    """Discount per step."""
    n_step: int = 3
    """Steps of the n-step return."""
    learning_rate: float = 3e-4
    """Adam's step size."""
    batch_size: int = 32
    """Transitions per update."""
    replay_capacity: int = 10_000
    """Transitions the replay keeps (about 4.6 kB each with the default sizes)."""
    learning_starts: int = 500
    """Environment steps before the first update."""
    env_steps_per_update: int = 4
    """Replay ratio: one update per this many environment steps."""
    target_update_period: int = 250
    """Updates between copies of the online network into the target network."""
    weight_sync_period: int = 25
    """Updates between copies of the online network into the actor's."""
    priority_alpha: float = 0.6
    """Prioritization exponent."""
    priority_beta: float = 0.4
    """Importance-sampling exponent at the start, annealed to 1 over the run."""
    priority_epsilon: float = 1e-3
    """Added to |TD error| so that no transition has zero priority."""
    max_grad_norm: float = 10.0
    """Gradient clipping."""
    d_model: int = 32
    """Network width (`GeneralQNetworkConfig`)."""
    num_layers: int = 2
    """Transformer layers."""
    num_heads: int = 4
    """Attention heads."""
    ff_dim: int = 64
    """Feed-forward width."""
    head_dim: int = 32
    """Action-head width."""
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    """The episode rules and observation sizes."""

    def epsilons(self) -> np.ndarray:
        if self.envs == 1:
            return np.array([self.epsilon_base])
        return self.epsilon_base ** (1 + self.epsilon_exponent * np.arange(self.envs) / (self.envs - 1))

    def network_config(self) -> GeneralQNetworkConfig:
        names = ("d_model", "num_layers", "num_heads", "ff_dim", "head_dim")
        return GeneralQNetworkConfig.for_episodes(self.episode, **{n: getattr(self, n) for n in names})


def load_task_file(path: str | Path, data: str | Path | None = None) -> tuple[list[Task], dict]:
    """The tasks of a TOML task file and its [episode] overrides; one-line ConfigErrors."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the task file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the task file {path} is not valid TOML: {exc}") from exc
    episode = spec.get("episode", {})
    known = {f.name for f in fields(EpisodeConfig)}
    if not isinstance(episode, dict) or set(episode) - known:
        raise ConfigError(f"{path}: [episode] takes only {', '.join(sorted(known))}")
    entries = spec.get("task")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f'{path} names no task; add [[task]] entries with benchmark = "..." and budget = [lo, hi]')
    tasks = []
    for k, entry in enumerate(entries, start=1):
        unknown = set(entry) - {"benchmark", "budget", "noise", "repeat"}
        if unknown or "benchmark" not in entry:
            raise ConfigError(f"{path}: task {k} needs benchmark and takes budget, noise, repeat (not {unknown})")
        budget = entry.get("budget", [20, 200])
        if not (isinstance(budget, list) and len(budget) == 2 and all(isinstance(b, int) for b in budget)):
            raise ConfigError(f"{path}: task {k}'s budget is [lowest, highest] unique queries, not {budget!r}")
        repeat = entry.get("repeat", "mean")
        if repeat not in REPEATS:
            raise ConfigError(f"{path}: task {k}'s repeat is one of {', '.join(REPEATS)}, not {repeat!r}")
        noise = entry.get("noise", 0.0)
        if not isinstance(noise, int | float) or noise < 0:
            raise ConfigError(f"{path}: task {k}'s noise is a non-negative number, not {noise!r}")
        benchmark = load_benchmark(entry["benchmark"], data=data, repeat=repeat)
        tasks.append(Task(benchmark, (budget[0], budget[1]), noise=float(noise)))
    return tasks, episode


@dataclass
class GeneralTrainingResult:
    policy: GeneralPolicy
    episodes: list[dict]
    """One row per finished episode: env_steps, task, budget, return, best_score, epsilon."""
    wall_seconds: float


class _EpisodeBuffer:
    """One environment's episode so far: observations, Q-values, actions and rewards."""

    def __init__(self, obs: dict[str, np.ndarray]):
        self.obs = [obs]
        self.q: list[np.ndarray] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []


def train_general(
    tasks: list[Task], config: GeneralTrainConfig, device: str | torch.device = "cpu"
) -> GeneralTrainingResult:
    """Train a general policy on episodes of `tasks`."""
    c, e = config, config.episode
    if c.total_env_steps < 1 or c.envs < 1 or c.batch_size < 1:
        raise ConfigError("total_env_steps, envs and batch_size must be at least 1")
    seeds = np.random.SeedSequence(c.seed).spawn(3 + c.envs)
    explore_rng, sample_rng = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
    envs = [SearchEpisodeEnv(tasks, e) for _ in range(c.envs)]
    epsilons = c.epsilons()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[2].generate_state(1)[0]))
        online = GeneralQNetwork(c.network_config()).to(device)
    target, actor = copy.deepcopy(online).eval(), copy.deepcopy(online).eval()
    for p in [*target.parameters(), *actor.parameters()]:
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(online.parameters(), lr=c.learning_rate)
    space = envs[0].observation_space
    layout = {k: (space[k].shape, space[k].dtype) for k in OBS_KEYS}
    layout["adjacency"] = (np.packbits(np.zeros(space["adjacency"].shape, np.uint8), axis=-1).shape, np.uint8)
    layout |= {f"next_{k}": v for k, v in layout.items()}
    layout |= {"action": ((), np.dtype(np.int64)), "return": ((), np.float32), "discount": ((), np.float32)}
    replay = PrioritizedReplay(c.replay_capacity, c.priority_alpha, c.priority_epsilon, layout)

    def q_of(observations: list[dict]) -> np.ndarray:
        with torch.inference_mode():
            return actor(obs_to_tensors(stack_observations(observations), device)).cpu().numpy()

    buffers = [
        _EpisodeBuffer(env.reset(seed=int(s.generate_state(1)[0]))[0]) for env, s in zip(envs, seeds[3:], strict=True)
    ]
    episodes: list[dict] = []
    env_steps = updates = 0
    started = time.perf_counter()
    while env_steps < c.total_env_steps:
        q = q_of([b.obs[-1] for b in buffers])
        for i, (env, buffer) in enumerate(zip(envs, buffers, strict=True)):
            valid = np.flatnonzero(buffer.obs[-1]["action_mask"])
            explore, pick = explore_rng.random(2)
            action = int(valid[int(pick * len(valid))]) if explore < epsilons[i] else int(q[i].argmax())
            obs, reward, terminated, truncated, info = env.step(action)
            buffer.q.append(q[i])
            buffer.actions.append(action)
            buffer.rewards.append(reward)
            buffer.obs.append(obs)
            if terminated or truncated:
                buffer.q.append(q_of([obs])[0])
                transitions, priorities = _transitions(buffer, terminated, c)
                replay.add(transitions, priorities)
                episodes.append(
                    {
                        "env_steps": env_steps + i + 1,
                        "task": info["task"],
                        "budget": info["budget"],
                        "return": float(sum(buffer.rewards)),
                        "best_score": info["best_score"],
                        "epsilon": float(epsilons[i]),
                    }
                )
                buffers[i] = _EpisodeBuffer(env.reset()[0])
        env_steps += c.envs
        owed = (env_steps - c.learning_starts) // c.env_steps_per_update - updates
        while owed > 0 and len(replay) >= c.batch_size:
            beta = c.priority_beta + min(1.0, env_steps / c.total_env_steps) * (1.0 - c.priority_beta)
            rows, weights, batch = replay.sample(c.batch_size, beta, sample_rng)
            for key in ("adjacency", "next_adjacency"):
                bits = np.unpackbits(batch[key], axis=-1, count=e.max_vertices)
                batch[key] = bits.astype(np.int8)
            td = dqn_update(online, target, optimizer, batch, weights, c, device)
            replay.update_priorities(rows, td)
            updates += 1
            owed -= 1
            if updates % c.target_update_period == 0:
                target.load_state_dict(online.state_dict())
            if updates % c.weight_sync_period == 0:
                actor.load_state_dict(online.state_dict())
    trained_on = [{"benchmark": t.name, "budget": list(t.budget), "noise": t.noise} for t in tasks]
    info = {"seed": c.seed, "env_steps": env_steps, "updates": updates}
    policy = GeneralPolicy(copy.deepcopy(online).cpu(), e, trained_on, source="a trained general policy", info=info)
    return GeneralTrainingResult(policy, episodes, time.perf_counter() - started)


def _transitions(buffer: _EpisodeBuffer, terminated: bool, c: GeneralTrainConfig) -> tuple[dict, np.ndarray]:
    """The episode's n-step transitions and their initial priorities (|TD error| under the actor's Q)."""
    rewards = np.asarray(buffer.rewards)
    returns, discounts, boot = n_step_returns(rewards, c.gamma, c.n_step, terminated)
    q = np.stack(buffer.q)
    actions = np.asarray(buffer.actions)
    taken = q[np.arange(len(actions)), actions]
    bootstrap = np.where(discounts > 0, q[boot].max(axis=1), 0.0)
    priorities = np.abs(returns + discounts * bootstrap - taken)
    transitions = {k: np.stack([buffer.obs[t][k] for t in range(len(actions))]) for k in OBS_KEYS}
    transitions |= {f"next_{k}": np.stack([buffer.obs[t][k] for t in boot]) for k in OBS_KEYS}
    for key in ("adjacency", "next_adjacency"):  # the replay keeps the adjacency bits packed (8x smaller)
        transitions[key] = np.packbits(transitions[key], axis=-1)
    transitions |= {"action": actions, "return": returns.astype(np.float32), "discount": discounts.astype(np.float32)}
    return transitions, priorities


def dqn_update(online, target, optimizer, batch, weights, c: GeneralTrainConfig, device) -> np.ndarray:
    """One double-DQN step with importance weights and a Huber loss; the new |TD errors|."""
    obs = obs_to_tensors({k: batch[k] for k in OBS_KEYS}, device)
    next_obs = obs_to_tensors({k: batch[f"next_{k}"] for k in OBS_KEYS}, device)
    action = torch.as_tensor(batch["action"], device=device)
    q = online(obs).gather(1, action[:, None]).squeeze(1)
    with torch.no_grad():
        ret = torch.as_tensor(batch["return"], device=device)
        discount = torch.as_tensor(batch["discount"], device=device)
        goal = double_dqn_targets(ret, discount, online(next_obs), target(next_obs))
    loss = (torch.as_tensor(weights, device=device) * F.huber_loss(q, goal, reduction="none")).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(online.parameters(), c.max_grad_norm)
    optimizer.step()
    return (goal - q).detach().abs().cpu().numpy()
