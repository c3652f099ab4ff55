"""`rlnas train --tasks FILE`: a general policy trained on a task list into a folder, in-process or on Ray.

The folder (`--out DIR`):

    general-checkpoint.pt  the whole training state, every checkpoint_updates updates and at the end
                           (`rlnas train --resume DIR` continues the run)
    policy.pt              the policy (`learned:DIR/policy.pt`); its info names the task file, the
                           families left out (`--without`) and the wall time
    episodes.json          the training curve: one row per finished episode
    training.png           the curve, drawn

`--without FAMILY` (repeatable) drops the tasks whose benchmark is FAMILY or starts with FAMILY-
(nb101, nb201, nbgraph, nbgraph-cora...): train without a family, then evaluate on it, which is the
leave-one-out protocol. Everything a user can get wrong is refused, in one line, before the folder is
written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.general_config import GENERAL_DEVICE, GeneralTrainConfig
from rlnas.agents.general_training import (
    GeneralTrainingResult,
    check_resumable,
    load_task_file,
    read_checkpoint,
    train_general,
)
from rlnas.agents.options import config_overrides
from rlnas.agents.policy import GENERAL_CHECKPOINT, POLICY_FILE, holds_training_run
from rlnas.devices import check_device, resolve_device
from rlnas.env.search_episode import EpisodeConfig, Task
from rlnas.errors import ConfigError
from rlnas.experiments.apex_train import UNTRAINED_NOTE, training_progress
from rlnas.experiments.plots import plot_general_training
from rlnas.files import held_folder, remove_stale_temporaries, write_atomic
from rlnas.ray_cluster import check_executor, check_ray_options

EPISODES_FILE = "episodes.json"
PLOT_FILE = "training.png"


def is_general_run(folder: str | Path) -> bool:
    """Whether `folder` holds a general policy's training (what `--resume` without `--tasks` continues)."""
    return (Path(folder) / GENERAL_CHECKPOINT).is_file()


@dataclass
class GeneralRun:
    """A checked run: everything `train` needs, nothing written yet."""

    folder: Path
    task_file: Path
    without: list[str]
    executor: str
    config: GeneralTrainConfig
    tasks: list[Task]
    resume: bool
    address: str | None
    device: str
    data: str | None

    @property
    def metadata(self) -> dict:
        return {"task_file": str(self.task_file), "without": self.without}

    def train(self, progress: Callable[[dict], None] | None = None) -> GeneralTrainingResult:
        """Train (or resume) into the folder; write the policy, the curve and its plot."""
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.folder)  # left by writes a kill interrupted
        checkpoint = self.folder / GENERAL_CHECKPOINT
        common = {"checkpoint": checkpoint, "resume": self.resume, "metadata": self.metadata, "progress": progress}
        if self.executor == "ray":
            from rlnas.agents.general_ray import GeneralRayExecutor

            executor = GeneralRayExecutor(self.tasks, self.config, self.device, data=self.data, address=self.address)
            result = executor.train(**common)
        else:
            result = train_general(self.tasks, self.config, self.device, **common)
        result.policy.info["wall_seconds"] = round(result.wall_seconds, 1)
        result.policy.save(self.folder / POLICY_FILE)
        write_atomic(self.folder / EPISODES_FILE, json.dumps(result.episodes, indent=1) + "\n")
        left_out = f" without {', '.join(self.without)}" if self.without else ""
        title = f"General policy on {self.task_file.name}{left_out} ({self.executor}, seed {self.config.seed})"
        plot_general_training(result.episodes, title, self.folder / PLOT_FILE)
        return result


def plan_general_run(
    *,
    tasks: Path | None,
    without: Sequence[str],
    executor: str | None,
    out: Path | None,
    resume: Path | None,
    address: str | None,
    data: str | None,
    device: str | None = None,
    **options,
) -> GeneralRun:
    """Check the options and load the task list; `options` are GeneralTrainConfig fields (None: not given)."""
    if executor is not None:
        check_executor(executor)
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise ConfigError("--resume DIR continues the run in DIR; leave out --out or give the same folder")
    if device is not None:
        check_device(device)
    overrides = config_overrides(options, GeneralTrainConfig)
    without = list(dict.fromkeys(without))
    base: dict = {}
    if resume is not None:
        state = read_checkpoint(Path(resume) / GENERAL_CHECKPOINT)
        saved = state["metadata"]
        tasks = tasks or Path(saved["task_file"])
        without = without or list(saved["without"])
        executor = executor or state["executor"]
        base = {k: v for k, v in state["config"].items() if k != "episode"}
        folder = Path(resume)
    else:
        if tasks is None:
            raise ConfigError("a general policy trains on a task list: give --tasks FILE.toml")
        executor = executor or "local"
        suffix = "".join(f"-no-{family}" for family in without)
        folder = Path(out or f"runs/general-{Path(tasks).stem}{suffix}")
        if holds_training_run(folder):
            raise ConfigError(
                f"{folder} already holds a training run; resume it with --resume {folder} or pick another --out"
            )
    config = GeneralTrainConfig(**{**base, **overrides})  # the options checked before the tables load
    if executor == "local" and config.actors != 1:
        raise ConfigError(f"the in-process executor runs one actor, not {config.actors}; add --executor ray")
    check_ray_options(executor, address)  # before the tables load
    task_list, episode = load_task_file(tasks, data, without)
    try:
        config = replace(config, episode=EpisodeConfig(**episode))
    except TypeError as exc:
        raise ConfigError(f"{tasks}: [episode] has a value of the wrong kind ({exc})") from exc
    if resume is not None:
        check_resumable(state, executor, config, task_list)
    return GeneralRun(
        folder,
        Path(tasks),
        without,
        executor,
        config,
        task_list,
        resume is not None,
        address,
        device or GENERAL_DEVICE,
        data,
    )


def _describe(status: dict) -> str:
    recent = [e for e in status["episodes"] if not e.get("teacher")][-50:]  # the policy's, not the teacher's
    if not recent:
        return f"{status['updates']:,} updates, no episode finished yet"
    mean = sum(e["return"] for e in recent) / len(recent)
    return f"{status['updates']:,} updates  {len(status['episodes']):,} episodes  mean return {mean:.3f} (last 50)"


def run_general_train_command(
    *, console: Console, torch_threads: int | None = None, **options
) -> GeneralTrainingResult:
    """`rlnas train --tasks FILE` (or `--resume DIR` of such a run); `options` as `plan_general_run`'s."""
    if torch_threads is not None and torch_threads < 0:
        raise ConfigError(f"torch_threads must be >= 0, got {torch_threads}")
    run = plan_general_run(**options)
    run.device = resolve_device(run.device)
    from rlnas.devices import torch_threads as using_threads

    # one thread unless told otherwise, as for one benchmark: PyTorch's default (every core) is not bit-reproducible
    threads = using_threads(ApeXConfig.torch_threads if torch_threads is None else torch_threads)
    left_out = f" without {', '.join(run.without)}" if run.without else ""
    description = f"{'resuming' if run.resume else 'training'} on {len(run.tasks)} tasks{left_out}"
    with (
        threads,
        held_folder(run.folder, "train"),
        training_progress(console, description, run.config.total_env_steps) as update,
    ):
        result = run.train(lambda status: update(status["env_steps"], _describe(status)))
    info = result.policy.info
    console.print(
        f"trained {info['env_steps']:,} environment steps, {info['updates']:,} updates; wall time "
        f"{result.wall_seconds:.0f} s; wrote {POLICY_FILE}, {EPISODES_FILE}, {PLOT_FILE} in {run.folder}"
    )
    if not info["updates"]:
        console.print(UNTRAINED_NOTE)
    return result
