"""A training run: its folder, metrics, checkpoints and resume, shared by both executors.

The folder of a run (`--out DIR`):

    checkpoint.pt   everything a resume needs (atomic: written to a temporary file, then renamed)
    policy.pt       the reusable policy (see `rlnas.agents.policy`), refreshed at every checkpoint
    metrics.csv     one row per round of episodes
    tb/             the same metrics for TensorBoard
    run.json        the benchmark, executor and full configuration, for people

A checkpoint is written every `checkpoint_steps` environment steps and every `checkpoint_minutes`,
whichever comes first, at the next point where no episode is under way, and at the end.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rlnas.agents.apex.algorithm import Learner, replay_layout
from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.policy import CHECKPOINT_FILE, POLICY_FILE, holds_training_run, policy_payload
from rlnas.agents.qnetwork import QNetworkConfig
from rlnas.benchmarks import Benchmark, load_benchmark
from rlnas.devices import resolve_device
from rlnas.env import ArchitectureSearchEnv
from rlnas.errors import CheckpointError, ConfigError
from rlnas.files import atomic_torch_save, load_versioned, remove_stale_temporaries, write_atomic
from rlnas.ray_cluster import check_executor

CHECKPOINT_FORMAT = "rlnas-apex-checkpoint"
CHECKPOINT_VERSION = 1
#: Fields a resume may change: limits and where the learner runs, not what it learns.
RESUMABLE_CHANGES = (
    "total_env_steps",
    "checkpoint_minutes",
    "checkpoint_steps",
    "device",
    "torch_threads",
    "actor_restarts",
)
METRIC_FIELDS = (
    "env_steps",
    "updates",
    "episodes",
    "wall_seconds",
    "env_steps_per_s",
    "updates_per_s",
    "steps_per_update",
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
        check_executor(self.executor)

    def to_dict(self) -> dict:
        return {"benchmark": self.benchmark, "executor": self.executor, "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        return cls(values["benchmark"], values["executor"], ApeXConfig.from_dict(values["config"], "the checkpoint"))


def read_checkpoint(folder: str | Path) -> dict:
    folder = Path(folder)
    path = folder / CHECKPOINT_FILE
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise CheckpointError(f"nothing to resume: {folder} {what}; give the --out folder of an earlier run")
    if not path.is_file():
        raise CheckpointError(
            f"nothing to resume: {folder} holds no checkpoint (a run stopped before its first one, or no training "
            "run at all); start the run again, or give the --out folder of a run with a checkpoint"
        )
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
        elif holds_training_run(self.out):
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
        self.network_config = QNetworkConfig.for_space(self.benchmark.space, **cfg.network_overrides())
        self.device = torch.device(resolve_device(cfg.device))
        try:
            self.learner = Learner(self.network_config, self.benchmark.space.edit_layout, cfg, self.device)
        except ConfigError as exc:  # the network has no heads for this space's edits (DARTS: two cells)
            raise ConfigError(
                f"the one-benchmark agent cannot act in the space of {spec.benchmark} ({exc}); train a general "
                f'policy instead: rlnas train --tasks FILE with a [[task]] benchmark = "{spec.benchmark}"'
            ) from exc
        probe_env = ArchitectureSearchEnv(self.benchmark, **cfg.env_kwargs())
        self.layout = replay_layout(probe_env.observation_space)
        self.counters = {"env_steps": 0, "episodes": 0, "wall_seconds": 0.0, "last_sync": 0}
        self.started = self.last_checkpoint = time.monotonic()
        self.checkpoint_steps = 0  # env_steps at the last checkpoint
        self._reset_window()
        self.last_row: dict = {}
        self.out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.out)  # left by writes a kill interrupted
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
            "steps_per_update": (steps - self.config.learning_starts) / updates if updates else float("nan"),
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
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(path, text.getvalue())

    # ------------------------------------------------------------------ checkpoints
    def save(self, executor_state: dict) -> None:
        """Write checkpoint.pt and policy.pt atomically (the checkpoint last)."""
        counters = {**self.counters, "wall_seconds": self.counters["wall_seconds"] + self.elapsed()}
        write_atomic(self.out / "run.json", json.dumps(self.spec.to_dict(), indent=2) + "\n")
        atomic_torch_save(self.policy_payload(), self.out / POLICY_FILE)
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "spec": self.spec.to_dict(),
            "counters": counters,
            "learner": self.learner.state_dict(),
            "executor": executor_state,
        }
        atomic_torch_save(state, self.out / CHECKPOINT_FILE)
        self.last_checkpoint = time.monotonic()
        self.checkpoint_steps = self.counters["env_steps"]

    def restore(self) -> dict:
        """Load the learner and counters from the checkpoint; return the executor's part of it."""
        state = self.checkpoint_state
        try:
            self.learner.load_state_dict(state["learner"])
            self.counters = dict(state["counters"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{self.out / CHECKPOINT_FILE} does not match this configuration ({exc})") from exc
        self.resumed_from = self.checkpoint_steps = self.counters["env_steps"]
        self._truncate_metrics(self.resumed_from)
        self._reset_window()
        return state["executor"]

    def checkpoint_due(self) -> bool:
        """Whether `checkpoint_steps` environment steps or `checkpoint_minutes` passed since the last checkpoint."""
        cfg = self.config
        return (
            self.counters["env_steps"] - self.checkpoint_steps >= cfg.checkpoint_steps
            or time.monotonic() - self.last_checkpoint >= cfg.checkpoint_minutes * 60
        )

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
