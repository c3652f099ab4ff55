"""A training run: its folder, metrics, checkpoints and resume; and the in-process executor.

The folder of a run (`--out DIR`):

    checkpoint.pt   everything a resume needs (atomic: written to a temporary file, then renamed)
    policy.pt       the reusable policy (see `rlnas.agents.policy`), refreshed at every checkpoint
    metrics.csv     one row per round of episodes
    tb/             the same metrics for TensorBoard
    run.json        the benchmark, executor and full configuration, for people

The in-process executor is deterministic: its schedule counts environment steps, never time.
Each round steps every actor once (`envs_per_actor` steps each); after it, the learner makes the
updates it owes, `(env_steps - learning_starts) // env_steps_per_update - updates`, and the actors'
shared network copy is refreshed every `weight_sync_period` updates. Checkpoints and the stop are
taken only where all episodes have ended, so a checkpoint captures the whole state (networks,
optimizer, replay, random generators, counters) and a resumed run continues bit for bit as the
uninterrupted run would have. Wall-clock time decides only *when* a checkpoint is written and
the `--minutes` cap, never what is computed.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rlnas.agents.apex.algorithm import Actor, Learner, replay_layout
from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.apex.replay import PrioritizedReplay
from rlnas.agents.policy import POLICY_FILE, atomic_torch_save, load_versioned, policy_payload
from rlnas.agents.qnetwork import QNetwork, QNetworkConfig, pick_device
from rlnas.benchmarks import Benchmark, load_benchmark
from rlnas.env import ArchitectureSearchEnv
from rlnas.errors import CheckpointError, ConfigError

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_FORMAT = "rlnas-apex-checkpoint"
CHECKPOINT_VERSION = 1
EXECUTORS = ("local", "ray")
#: Fields a resume may change: limits and where the learner runs, not what it learns.
RESUMABLE_CHANGES = ("total_env_steps", "checkpoint_minutes", "device", "torch_threads")
METRIC_FIELDS = (
    "env_steps",
    "updates",
    "episodes",
    "wall_seconds",
    "env_steps_per_s",
    "updates_per_s",
    "loss",
    "q_mean",
    "grad_norm",
    "episode_best_shaped",
    "episode_best_score",
    "greedy_best_score",
    "episode_unique_queries",
    "episode_return",
    "replay_size",
    "beta",
)


@dataclass
class RunSpec:
    """What a run trains: the benchmark, the executor and the configuration."""

    benchmark: str
    executor: str = "local"
    config: ApeXConfig = field(default_factory=ApeXConfig)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; choose local or ray")

    def to_dict(self) -> dict:
        return {"benchmark": self.benchmark, "executor": self.executor, "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        return cls(values["benchmark"], values["executor"], ApeXConfig.from_dict(values["config"], "the checkpoint"))


def read_checkpoint(folder: str | Path) -> dict:
    path = Path(folder) / CHECKPOINT_FILE
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; --resume takes the --out folder of an earlier `rlnas train`")
    # The checkpoint holds generator states and replay arrays, so it is a full pickle: load only your own runs.
    state = load_versioned(
        path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "training checkpoint", weights_only=False, fix="start a new run"
    )
    return state


def resume_spec(saved: RunSpec, requested: RunSpec | None) -> RunSpec:
    """The saved spec, with the changes a resume allows; any other difference is a ConfigError."""
    if requested is None:
        return saved
    if requested.benchmark != saved.benchmark or requested.executor != saved.executor:
        raise ConfigError(
            f"the run was trained with --benchmark {saved.benchmark} --executor {saved.executor}; "
            f"resume it with those (or start a new run with another --out)"
        )
    old, new = saved.config.to_dict(), requested.config.to_dict()
    changed = sorted(k for k in old if old[k] != new[k] and k not in RESUMABLE_CHANGES)
    if changed:
        details = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed)
        raise ConfigError(f"a resume cannot change {details}; start a new run with another --out instead")
    return RunSpec(saved.benchmark, saved.executor, requested.config)


class TrainingRun:
    """The state and plumbing both executors share: learner, counters, metrics, files."""

    def __init__(
        self,
        spec: RunSpec,
        out: str | Path,
        *,
        resume: bool = False,
        minutes: float | None = None,
        data: str | Path | None = None,
        progress: Callable[[dict], None] | None = None,
        tensorboard: bool = True,
        benchmark: Benchmark | None = None,
    ):
        self.out = Path(out)
        self.checkpoint_state: dict | None = None
        self.resumed_from: int | None = None
        if resume:
            self.checkpoint_state = read_checkpoint(self.out)
            spec = resume_spec(RunSpec.from_dict(self.checkpoint_state["spec"]), spec)
        elif (self.out / CHECKPOINT_FILE).exists():
            raise ConfigError(
                f"{self.out} already holds a training run; resume it with --resume {self.out} or pick another --out"
            )
        if minutes is not None and minutes <= 0:
            raise ConfigError(f"--minutes must be positive, got {minutes}")
        self.spec = spec
        self.config = cfg = spec.config
        self.minutes = minutes
        self.progress = progress
        self.benchmark = benchmark if benchmark is not None else load_benchmark(spec.benchmark, data)
        if self.benchmark.name != spec.benchmark:
            raise ConfigError(f"the benchmark object is {self.benchmark.name}, the run trains on {spec.benchmark}")
        self.data = data
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.network_config = QNetworkConfig.for_space(self.benchmark.space, **cfg.network_overrides())
        self.device = pick_device(cfg.device)
        self.learner = Learner(self.network_config, cfg, self.device)
        probe_env = ArchitectureSearchEnv(self.benchmark, **cfg.env_kwargs())
        self.layout = replay_layout(probe_env.observation_space)
        self.counters = {"env_steps": 0, "episodes": 0, "wall_seconds": 0.0, "last_sync": 0}
        self.started = time.monotonic()
        self._reset_window()
        self.last_row: dict = {}
        self.out.mkdir(parents=True, exist_ok=True)
        self.tensorboard = tensorboard
        self._writer = None
        if not resume:  # a run killed before its first checkpoint may have left metrics behind
            self.resumed_from = 0
            self._truncate_metrics(0)

    # ------------------------------------------------------------------ metrics
    def _reset_window(self) -> None:
        self.window = {
            "loss": [],
            "q_mean": [],
            "grad_norm": [],
            "best_shaped": [],
            "best_score": [],
            "greedy_best_score": [],
            "unique_queries": [],
            "return": [],
        }
        self.window_start = (time.monotonic(), self.counters["env_steps"], self.learner.updates)

    def record_episodes(self, stats: dict[str, np.ndarray]) -> None:
        self.counters["episodes"] += len(stats["best_score"])
        self.window["best_shaped"].extend(stats["best_shaped"].tolist())
        self.window["best_score"].extend(stats["best_score"].tolist())
        self.window["unique_queries"].extend(stats["unique_queries"].tolist())
        self.window["return"].extend(stats["return"].tolist())
        greedy = stats["epsilon"] <= min(self.config.epsilons()) + 1e-12
        self.window["greedy_best_score"].extend(stats["best_score"][greedy].tolist())

    def record_update(self, result: dict) -> None:
        for key in ("loss", "q_mean", "grad_norm"):
            self.window[key].append(result[key])

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def time_is_up(self) -> bool:
        return self.minutes is not None and self.elapsed() >= self.minutes * 60

    def write_row(self, replay_size: int) -> dict:
        now, steps0, updates0 = self.window_start
        seconds = max(time.monotonic() - now, 1e-9)
        steps, updates = self.counters["env_steps"], self.learner.updates

        def mean(key):
            values = self.window[key]
            return float(np.mean(values)) if values else float("nan")

        row = {
            "env_steps": steps,
            "updates": updates,
            "episodes": self.counters["episodes"],
            "wall_seconds": round(self.counters["wall_seconds"] + self.elapsed(), 3),
            "env_steps_per_s": (steps - steps0) / seconds,
            "updates_per_s": (updates - updates0) / seconds,
            "loss": mean("loss"),
            "q_mean": mean("q_mean"),
            "grad_norm": mean("grad_norm"),
            "episode_best_shaped": mean("best_shaped"),
            "episode_best_score": mean("best_score"),
            "greedy_best_score": mean("greedy_best_score"),
            "episode_unique_queries": mean("unique_queries"),
            "episode_return": mean("return"),
            "replay_size": replay_size,
            "beta": self.config.beta(steps),
        }
        path = self.out / "metrics.csv"
        new_file = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS)
            if new_file:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        if self.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                # drop the events a killed run left past the point this run starts from
                purge = self.resumed_from + 1 if self.resumed_from is not None else None
                self._writer = SummaryWriter(str(self.out / "tb"), purge_step=purge)
            for key, value in row.items():
                if key != "env_steps" and np.isfinite(value):
                    self._writer.add_scalar(f"apex/{key}", value, steps)
        self.last_row = row
        self._reset_window()
        if self.progress is not None:
            self.progress(row)
        return row

    def _truncate_metrics(self, env_steps: int) -> None:
        """Drop the rows a killed run wrote after its last checkpoint."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        with path.open(newline="") as f:
            rows = [
                r for r in csv.DictReader(f) if r.get("env_steps", "").isdigit() and int(r["env_steps"]) <= env_steps
            ]
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(path)

    # ------------------------------------------------------------------ checkpoints
    def save(self, executor_state: dict) -> None:
        """Write checkpoint.pt and policy.pt atomically (the checkpoint last)."""
        counters = {**self.counters, "wall_seconds": self.counters["wall_seconds"] + self.elapsed()}
        (self.out / "run.json").write_text(json.dumps(self.spec.to_dict(), indent=2) + "\n")
        atomic_torch_save(self.policy_payload(), self.out / POLICY_FILE)
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "spec": self.spec.to_dict(),
            "counters": counters,
            "learner": self.learner.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "executor": executor_state,
        }
        atomic_torch_save(state, self.out / CHECKPOINT_FILE)
        self.last_checkpoint = time.monotonic()

    def restore(self) -> dict:
        """Load the learner and counters from the checkpoint; return the executor's part of it."""
        state = self.checkpoint_state
        try:
            self.learner.load_state_dict(state["learner"])
            torch.set_rng_state(state["torch_rng"])
            self.counters = dict(state["counters"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{self.out / CHECKPOINT_FILE} does not match this configuration ({exc})") from exc
        self.resumed_from = self.counters["env_steps"]
        self._truncate_metrics(self.resumed_from)
        self._reset_window()
        return state["executor"]

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self.last_checkpoint >= self.config.checkpoint_minutes * 60

    def policy_payload(self) -> dict:
        return policy_payload(
            self.learner.online,
            self.config.env_kwargs(),
            self.spec.benchmark,
            self.benchmark.space.name,
            gamma=self.config.gamma,
            trained_env_steps=self.counters["env_steps"],
            trained_updates=self.learner.updates,
            config=self.config.to_dict(),
        )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def summary(self) -> dict:
        return {
            "out": str(self.out),
            "env_steps": self.counters["env_steps"],
            "updates": self.learner.updates,
            "episodes": self.counters["episodes"],
            "last": self.last_row,
        }


# ---------------------------------------------------------------------- the in-process executor
class LocalExecutor:
    """Actors stepped in turn in this process; deterministic for a given seed."""

    def __init__(self, run: TrainingRun):
        self.run = run
        cfg = run.config
        # the actors share one network copy (CPU), refreshed by the periodic broadcast
        self.actor_network = QNetwork(run.network_config)
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
        run.last_checkpoint = time.monotonic()
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


def train(
    spec: RunSpec,
    out: str | Path,
    *,
    resume: bool = False,
    minutes: float | None = None,
    data: str | Path | None = None,
    address: str | None = None,
    progress: Callable[[dict], None] | None = None,
    tensorboard: bool = True,
    benchmark: Benchmark | None = None,
) -> dict:
    """Train (or resume, with `resume=True` and `spec` None or compatible) an Ape-X agent into `out`."""
    if address is not None and spec is not None and spec.executor != "ray":
        raise ConfigError("--address joins a Ray cluster; use it with --executor ray")
    run = TrainingRun(
        spec,
        out,
        resume=resume,
        minutes=minutes,
        data=data,
        progress=progress,
        tensorboard=tensorboard,
        benchmark=benchmark,
    )
    if run.spec.executor == "ray":
        from rlnas.agents.apex.ray_executor import RayExecutor

        return RayExecutor(run, address=address).train()
    if address is not None:
        raise ConfigError("--address joins a Ray cluster; use it with --executor ray")
    return LocalExecutor(run).train()
