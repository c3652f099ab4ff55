"""Ape-X training of a general policy on a distribution of search tasks, in-process and bit-reproducible.

The algorithm is `rlnas.agents.apex`'s (n-step double DQN, prioritized replay, a target network,
an epsilon ladder over the environments, actor-side initial priorities), here over
`SearchEpisodeEnv` episodes (whole searches of variable length, terminal when the budget is spent,
bootstrapped when the step cap cuts them) and the one network for every space. Every environment
draws its task per episode from the task list; an actor steps its environments in lockstep with one
batched forward pass and emits an episode's transitions when it ends. With `teacher_envs` > 0 the last
environments of each actor follow a teacher instead (`teacher`: local search, or local search from
several elites) and their transitions are demonstrations, on which DQfD's large-margin loss
(`demo_margin`) teaches the network the teacher's choice while the TD loss learns where to do better
(Ape-X DQfD). Everything random comes from generators seeded by `seed`; the network is initialised
under a forked torch generator; so two runs of the same configuration in one process give the same
weights bit for bit. `rlnas.agents.general_ray` runs the same actor and learner with the actors in Ray
processes.

Checkpoints (`checkpoint=PATH`, every `checkpoint_updates` updates and at the end, written atomically)
hold the networks (online, target and the actor's lagging copy), Adam's state, the replay, the
generators, the counters, the training curve so far and every episode under way as its start state
and actions; a resume replays those actions to rebuild the environments, so a resumed in-process run
ends with the weights of the run that was never stopped (with the same `total_env_steps`: it sets the
importance-sampling schedule).

A task file (TOML) names the tasks and, optionally, the episode rules:

    [episode]                 # EpisodeConfig fields (optional)
    num_elites = 3

    [[task]]
    benchmark = "nb201-cifar10"
    budget = [20, 200]        # unique queries, drawn log-uniformly per episode
    noise = 0.02              # Gaussian noise on the observed scores (units of the reward scale)
    repeat = "random"         # a training repeat drawn per query, where the benchmark has several
    scale = [0.0, 1.0]        # (lo, hi) of the reward's score scale (default: the median and best of
                              # the benchmark's table or of 2,000 samples); [0, 1] shapes raw accuracy
"""

from __future__ import annotations

import copy
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.utils import seeding

from rlnas.agents.apex.algorithm import LearnerState, double_dqn_targets, n_step_returns
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.general_config import GeneralTrainConfig
from rlnas.agents.general_policy import GeneralPolicy
from rlnas.agents.general_qnetwork import OBS_KEYS, GeneralQNetwork, obs_to_tensors, stack_observations
from rlnas.agents.settings import check_steps_left
from rlnas.benchmarks import REPEATS, check_benchmark, load_benchmark, takes_space
from rlnas.env.search_episode import TEACHERS, EpisodeConfig, SearchEpisodeEnv, Task
from rlnas.errors import CheckpointError, ConfigError
from rlnas.files import atomic_torch_save, load_versioned

__all__ = ["GeneralTrainConfig", "GeneralTrainingResult", "load_task_file", "train_general"]

CHECKPOINT_FORMAT = "rlnas-general-checkpoint"
CHECKPOINT_VERSION = 2  # 2: a fifth elite field (`GENERAL_POLICY_VERSION`)
#: Fields a resume may change: limits and bookkeeping, not what is learned.
RESUMABLE_CHANGES = ("total_env_steps", "checkpoint_updates", "actor_restarts")


def in_family(benchmark: str, family: str) -> bool:
    """Whether `benchmark` belongs to `family`: the name itself or its prefix before a dash (nb201, nbgraph)."""
    return benchmark == family or benchmark.startswith(f"{family}-")


def load_task_file(
    path: str | Path, data: str | Path | None = None, without: Sequence[str] = ()
) -> tuple[list[Task], dict]:
    """The tasks of a TOML task file and its [episode] overrides; one-line ConfigErrors.

    `without` names benchmark families to leave out (e.g. nb101, nb201): checked, and dropped before any
    benchmark is loaded.
    """
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the task file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the task file {path} is not valid TOML: {exc}") from exc
    stray = sorted(set(spec) - {"episode", "task"})
    if stray:
        raise ConfigError(
            f"{path}: unknown {', '.join(stray)}; a task file holds an [episode] table and [[task]] entries"
        )
    episode = spec.get("episode", {})
    known = {f.name for f in fields(EpisodeConfig)}
    if not isinstance(episode, dict) or set(episode) - known:
        raise ConfigError(f"{path}: [episode] takes only {', '.join(sorted(known))}")
    entries = spec.get("task")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f'{path} names no task; add [[task]] entries with benchmark = "..." and budget = [lo, hi]')
    specs = []
    defaults = {f.name: f.default for f in fields(Task)}
    keys = {*defaults, "repeat", "space"}  # Task's fields, and how its benchmark loads
    for k, entry in enumerate(entries, start=1):
        unknown = set(entry) - keys
        if unknown or "benchmark" not in entry:
            others = ", ".join(sorted(keys - {"benchmark"}))
            raise ConfigError(f"{path}: task {k} needs benchmark and takes {others} (not {unknown})")
        budget = entry.get("budget", list(defaults["budget"]))
        if not (
            isinstance(budget, list)
            and len(budget) == 2
            and all(isinstance(b, int) for b in budget)
            and 1 <= budget[0] <= budget[1]
        ):
            raise ConfigError(
                f"{path}: task {k}'s budget is [lowest, highest] unique queries, 1 <= lowest <= highest, not {budget!r}"
            )
        repeat = entry.get("repeat", "mean")
        if repeat not in REPEATS:
            raise ConfigError(f"{path}: task {k}'s repeat is one of {', '.join(REPEATS)}, not {repeat!r}")
        noise = entry.get("noise", defaults["noise"])
        if not isinstance(noise, int | float) or noise < 0:
            raise ConfigError(f"{path}: task {k}'s noise is a non-negative number, not {noise!r}")
        scale = entry.get("scale")
        if scale is not None and not (
            isinstance(scale, list)
            and len(scale) == 2
            and all(isinstance(x, int | float) for x in scale)
            and scale[0] < scale[1]
        ):
            raise ConfigError(f"{path}: task {k}'s scale is [lo, hi] scores with lo < hi, not {scale!r}")
        if takes_space(entry["benchmark"]) and "space" not in entry:
            raise ConfigError(
                f'{path}: task {k} ({entry["benchmark"]}) needs the space of its archs: add space = "NAME"'
            )
        spec = {"benchmark": entry["benchmark"], "budget": budget, "noise": float(noise), "repeat": repeat}
        spec |= {"scale": [float(x) for x in scale]} if scale is not None else {}
        specs.append(spec | ({"space": entry["space"]} if "space" in entry else {}))
    for family in without:
        if not any(in_family(s["benchmark"], family) for s in specs):
            names = ", ".join(dict.fromkeys(s["benchmark"] for s in specs))
            raise ConfigError(f"--without {family} matches no task of {path} (its benchmarks: {names})")
    specs = [s for s in specs if not any(in_family(s["benchmark"], f) for f in without)]
    if not specs:
        raise ConfigError(f"leaving out {', '.join(without)} leaves no task in {path}; leave out fewer families")
    for s in specs:  # every name and data folder, before any table is loaded
        check_benchmark(s["benchmark"], data=data, repeat=s["repeat"], space=s.get("space"))
    return load_tasks(specs, data), episode


def load_tasks(specs: Sequence[dict], data: str | Path | None = None) -> list[Task]:
    """Tasks from their `task_spec`s (how a Ray actor process loads its own benchmarks)."""
    tasks = []
    for s in specs:
        benchmark = load_benchmark(s["benchmark"], data=data, repeat=s.get("repeat", "mean"), space=s.get("space"))
        scale = tuple(s["scale"]) if s.get("scale") is not None else None
        tasks.append(Task(benchmark, (s["budget"][0], s["budget"][1]), scale=scale, noise=float(s["noise"])))
    return tasks


def task_spec(task: Task) -> dict:
    """A task as plain values (its benchmark by name): for checkpoints and Ray actors."""
    return {
        "benchmark": task.name,
        "budget": list(task.budget),
        "noise": task.noise,
        "repeat": getattr(task.benchmark, "repeat", "mean"),
        "scale": list(task.scale) if task.scale is not None else None,
    } | ({"space": task.benchmark.space.name} if takes_space(task.name) else {})


@dataclass
class GeneralTrainingResult:
    policy: GeneralPolicy
    episodes: list[dict]
    """One row per finished episode: env_steps, task, budget, return, best_score, epsilon."""
    wall_seconds: float


def transition_layout(observation_space) -> dict[str, tuple[tuple, np.dtype]]:
    """A replay row: observation, next observation (adjacency bits packed, 8x smaller), action, return, discount,
    and whether the teacher took the action (a demonstration)."""
    space = observation_space
    layout = {k: (space[k].shape, space[k].dtype) for k in OBS_KEYS}
    layout["adjacency"] = (np.packbits(np.zeros(space["adjacency"].shape, np.uint8), axis=-1).shape, np.uint8)
    layout |= {f"next_{k}": v for k, v in layout.items()}
    layout |= {"action": ((), np.dtype(np.int64)), "return": ((), np.float32), "discount": ((), np.float32)}
    return layout | {"demo": ((), np.float32)}


class _EpisodeBuffer:
    """One environment's episode so far: observations, Q-values, actions and rewards."""

    def __init__(self, obs: dict[str, np.ndarray], start: dict):
        self.start = start
        """The environment's generator state at the episode's reset: with the actions, the whole episode."""
        self.obs = [obs]
        self.q: list[np.ndarray] = []
        self.actions: list[int] = []
        self.rewards: list[float] = []


class GeneralActor:
    """Environments stepped in lockstep, epsilon-greedy on one batched forward pass of a network copy."""

    def __init__(
        self,
        tasks: Sequence[Task],
        config: GeneralTrainConfig,
        network: GeneralQNetwork,
        epsilons: np.ndarray,
        explore_seed: np.random.SeedSequence,
        env_seeds: Sequence[int],
        device: str | torch.device = "cpu",
    ):
        self.config, self.network, self.epsilons, self.device = config, network, epsilons, device
        self.explore_rng = np.random.default_rng(explore_seed)
        self.envs = [SearchEpisodeEnv(tasks, config.episode) for _ in env_seeds]
        self.teachers = len(env_seeds) - config.teacher_envs  # environments from this one on follow the teacher
        self.teacher = TEACHERS[config.teacher]
        self.buffers = [self._begin(env, seed) for env, seed in zip(self.envs, env_seeds, strict=True)]

    @staticmethod
    def _begin(env: SearchEpisodeEnv, seed: int | None = None) -> _EpisodeBuffer:
        start = (seeding.np_random(seed)[0] if seed is not None else env.np_random).bit_generator.state
        return _EpisodeBuffer(env.reset(seed=seed)[0], start)

    def q_of(self, observations: list[dict]) -> np.ndarray:
        with torch.inference_mode():
            return self.network(obs_to_tensors(stack_observations(observations), self.device)).cpu().numpy()

    def step(self) -> list[tuple[dict, np.ndarray, dict]]:
        """One step of every environment; (transitions, priorities, training-curve row) of each episode that
        ended, the row's env_steps counted from this step's first environment (1 for it)."""
        q = self.q_of([b.obs[-1] for b in self.buffers])
        finished = []
        for i, (env, buffer) in enumerate(zip(self.envs, self.buffers, strict=True)):
            valid = np.flatnonzero(buffer.obs[-1]["action_mask"])
            explore, pick = self.explore_rng.random(2)
            if i >= self.teachers:
                action = self.teacher(buffer.obs[-1], self.explore_rng)
            elif explore < self.epsilons[i]:
                action = int(valid[int(pick * len(valid))])
            else:
                action = int(q[i].argmax())
            obs, reward, terminated, truncated, info = env.step(action)
            buffer.q.append(q[i])
            buffer.actions.append(action)
            buffer.rewards.append(reward)
            buffer.obs.append(obs)
            if terminated or truncated:
                buffer.q.append(self.q_of([obs])[0])
                transitions, priorities = _transitions(buffer, terminated, self.config, i >= self.teachers)
                row = {
                    "env_steps": i + 1,
                    "task": info["task"],
                    "budget": info["budget"],
                    "return": float(sum(buffer.rewards)),
                    "best_score": info["best_score"],
                    "epsilon": float(self.epsilons[i]),
                    "teacher": i >= self.teachers,
                }
                finished.append((transitions, priorities, row))
                self.buffers[i] = self._begin(env)
        return finished

    def state_dict(self) -> dict:
        """The exploration generator and each episode under way (start state, actions, rewards, Q-values)."""
        return {
            "explore_rng": self.explore_rng.bit_generator.state,
            "episodes": [
                {"start": b.start, "actions": list(b.actions), "rewards": list(b.rewards), "q": [*b.q]}
                for b in self.buffers
            ],
        }

    def load_state_dict(self, state: dict) -> None:
        """Rebuild each episode under way by replaying its actions from its start state."""
        self.explore_rng.bit_generator.state = state["explore_rng"]
        for i, (env, saved) in enumerate(zip(self.envs, state["episodes"], strict=True)):
            generator = np.random.Generator(np.random.PCG64())
            generator.bit_generator.state = saved["start"]
            env.np_random = generator
            buffer = _EpisodeBuffer(env.reset()[0], saved["start"])
            for action, reward in zip(saved["actions"], saved["rewards"], strict=True):
                obs, replayed, *_ = env.step(action)
                if replayed != reward:
                    raise CheckpointError(
                        "an episode under way replays to other rewards than it had (the benchmark data changed?); "
                        "start a new run"
                    )
                buffer.actions.append(action)
                buffer.rewards.append(reward)
                buffer.obs.append(obs)
            buffer.q = list(saved["q"])
            self.buffers[i] = buffer


class GeneralLearner(LearnerState):
    """The online and target networks and Adam: one double-DQN update per prioritized batch."""

    def __init__(self, config: GeneralTrainConfig, device: str | torch.device, init_seed: int):
        self.config, self.device, self.updates = config, device, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.online = GeneralQNetwork(config.network_config()).to(device)
        self.target = frozen_copy(self.online)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)

    def owed(self, env_steps: int) -> int:
        """Updates the replay ratio asks for at `env_steps` and not made yet."""
        return (env_steps - self.config.learning_starts) // self.config.env_steps_per_update - self.updates

    def update(self, batch: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
        """One update on a replay batch (adjacency bits packed); the new |TD errors|."""
        for key in ("adjacency", "next_adjacency"):
            bits = np.unpackbits(batch[key], axis=-1, count=self.config.episode.max_vertices)
            batch[key] = bits.astype(np.int8)
        td = dqn_update(self.online, self.target, self.optimizer, batch, weights, self.config, self.device)
        self.updates += 1
        if self.updates % self.config.target_update_period == 0:
            self.target.load_state_dict(self.online.state_dict())
        return td

    def policy(self, tasks: Sequence[Task], info: dict) -> GeneralPolicy:
        trained_on = [{"benchmark": t.name, "budget": list(t.budget), "noise": t.noise} for t in tasks]
        network = copy.deepcopy(self.online).cpu()
        info = info | self.config.teaching()
        return GeneralPolicy(network, self.config.episode, trained_on, source="a trained general policy", info=info)


def frozen_copy(network: GeneralQNetwork) -> GeneralQNetwork:
    """A copy in eval mode without gradients (the target network, an actor's)."""
    clone = copy.deepcopy(network).eval()
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


# ---------------------------------------------------------------------- checkpoints
def checkpoint_payload(
    executor: str,
    config: GeneralTrainConfig,
    tasks: Sequence[Task],
    counters: dict,
    episodes: list[dict],
    learner: GeneralLearner,
    metadata: dict,
    **parts,
) -> dict:
    """What both executors save: the run's identity, counters, curve and learner; `parts` are the executor's."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "executor": executor,
        "config": config.to_dict(),
        "tasks": [task_spec(t) for t in tasks],
        "metadata": metadata,
        "counters": counters,
        "episodes": episodes,
        "learner": learner.state_dict(),
        **parts,
    }


def read_checkpoint(path: str | Path) -> dict:
    """A general-training checkpoint (a full pickle with generator states: load only your own runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: {path} does not exist; give the --out folder of an earlier run")
    return load_versioned(
        path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "general-training checkpoint", False, "start a new run"
    )


def check_resumable(state: dict, executor: str, config: GeneralTrainConfig, tasks: Sequence[Task]) -> None:
    """ConfigError unless the run in `state` can continue as `config` on `tasks` with `executor`."""
    if state["executor"] != executor:
        raise ConfigError(f"the run was trained with --executor {state['executor']}; resume it with that executor")
    if state["tasks"] != [task_spec(t) for t in tasks]:
        raise ConfigError("the task list differs from the one the run was trained on; start a new run")
    old, new = state["config"], config.to_dict()
    changed = sorted(k for k in old if old[k] != new[k] and k not in RESUMABLE_CHANGES)
    if changed:
        details = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed)
        raise ConfigError(f"a resume cannot change {details}; start a new run with another --out instead")
    check_steps_left(state["counters"]["env_steps"], config.total_env_steps, old["total_env_steps"])


# ---------------------------------------------------------------------- the in-process executor
def train_general(
    tasks: list[Task],
    config: GeneralTrainConfig,
    device: str | torch.device = "cpu",
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    metadata: dict | None = None,
    progress: Callable[[dict], None] | None = None,
) -> GeneralTrainingResult:
    """Train a general policy on episodes of `tasks` in this process.

    `checkpoint`: a file to save the whole state to every `checkpoint_updates` updates and at the end;
    `resume=True` continues the run saved there. `metadata` (plain values, e.g. the task file) is saved
    with it and goes into the policy's info. `progress` is called after every lockstep step with
    env_steps, updates and the episodes so far.
    """
    c = config
    if c.actors != 1:
        raise ConfigError(f"the in-process executor runs one actor, not {c.actors}; use --executor ray for more")
    if resume and checkpoint is None:
        raise ConfigError("a resume needs the checkpoint to continue from")
    metadata = dict(metadata or {})
    seeds = np.random.SeedSequence(c.seed).spawn(3 + c.envs)
    sample_rng = np.random.default_rng(seeds[1])
    learner = GeneralLearner(c, device, int(seeds[2].generate_state(1)[0]))
    network = frozen_copy(learner.online)
    env_seeds = [int(s.generate_state(1)[0]) for s in seeds[3:]]
    actor = GeneralActor(tasks, c, network, c.epsilons(), seeds[0], env_seeds, device)
    layout = transition_layout(actor.envs[0].observation_space)
    replay = PrioritizedReplay(c.replay_capacity, c.priority_alpha, c.priority_epsilon, layout)
    episodes: list[dict] = []
    counters = {"env_steps": 0, "wall_seconds": 0.0}
    if resume:
        state = read_checkpoint(checkpoint)
        check_resumable(state, "local", c, tasks)
        try:
            learner.load_state_dict(state["learner"])
            network.load_state_dict(state["actor_network"])
            actor.load_state_dict(state["actor"])
            replay.load_state_dict(state["replay"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{checkpoint} does not match this configuration ({exc})") from exc
        sample_rng.bit_generator.state = state["sample_rng"]
        episodes, counters = list(state["episodes"]), dict(state["counters"])
        metadata = {**state["metadata"], **metadata}
    started = time.perf_counter()

    def save() -> None:
        now = {**counters, "wall_seconds": counters["wall_seconds"] + time.perf_counter() - started}
        parts = {
            "actor_network": network.state_dict(),
            "actor": actor.state_dict(),
            "replay": replay.state_dict(),
            "sample_rng": sample_rng.bit_generator.state,
        }
        payload = checkpoint_payload("local", c, tasks, now, episodes, learner, metadata, **parts)
        atomic_torch_save(payload, Path(checkpoint))

    next_save = (learner.updates // c.checkpoint_updates + 1) * c.checkpoint_updates
    while counters["env_steps"] < c.total_env_steps:
        env_steps = counters["env_steps"]
        for transitions, priorities, row in actor.step():
            replay.add(transitions, priorities)
            row["env_steps"] += env_steps
            episodes.append(row)
        counters["env_steps"] = env_steps = env_steps + c.envs
        owed = learner.owed(env_steps)
        while owed > 0 and len(replay) >= c.batch_size:
            rows, weights, batch = replay.sample(c.batch_size, c.beta(env_steps), sample_rng)
            replay.update_priorities(rows, learner.update(batch, weights))
            owed -= 1
            if learner.updates % c.weight_sync_period == 0:
                network.load_state_dict(learner.online.state_dict())
        if checkpoint is not None and learner.updates >= next_save:
            save()
            next_save = (learner.updates // c.checkpoint_updates + 1) * c.checkpoint_updates
        if progress is not None:
            progress({"env_steps": env_steps, "updates": learner.updates, "episodes": episodes})
    if checkpoint is not None:
        save()
    info = {"seed": c.seed, "env_steps": counters["env_steps"], "updates": learner.updates, **metadata}
    wall = counters["wall_seconds"] + time.perf_counter() - started
    return GeneralTrainingResult(learner.policy(tasks, info), episodes, wall)


def _transitions(
    buffer: _EpisodeBuffer, terminated: bool, c: GeneralTrainConfig, demo: bool
) -> tuple[dict, np.ndarray]:
    """The episode's n-step transitions and their initial priorities (|TD error| under the actor's Q);
    `demo`: the teacher acted."""
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
    transitions["demo"] = np.full(len(actions), float(demo), dtype=np.float32)
    return transitions, priorities


def dqn_update(online, target, optimizer, batch, weights, c: GeneralTrainConfig, device) -> np.ndarray:
    """One double-DQN step with importance weights and a Huber loss, plus DQfD's large-margin loss on the
    demonstrations when `c.demo_margin` > 0; the new |TD errors|."""
    obs = obs_to_tensors({k: batch[k] for k in OBS_KEYS}, device)
    next_obs = obs_to_tensors({k: batch[f"next_{k}"] for k in OBS_KEYS}, device)
    action = torch.as_tensor(batch["action"], device=device)
    q_all = online(obs)
    q = q_all.gather(1, action[:, None]).squeeze(1)
    with torch.no_grad():
        ret = torch.as_tensor(batch["return"], device=device)
        discount = torch.as_tensor(batch["discount"], device=device)
        goal = double_dqn_targets(ret, discount, online(next_obs), target(next_obs))
    loss = (torch.as_tensor(weights, device=device) * F.huber_loss(q, goal, reduction="none")).mean()
    if c.demo_margin > 0:
        demo = torch.as_tensor(batch["demo"], device=device)
        margins = torch.full_like(q_all, c.demo_margin).scatter(1, action[:, None], 0.0)
        excess = (q_all + margins).max(dim=1).values - q  # >= 0: the margin the demonstrated action lacks
        loss = loss + c.demo_loss_weight * (demo * excess).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(online.parameters(), c.max_grad_norm)
    optimizer.step()
    return (goal - q).detach().abs().cpu().numpy()
