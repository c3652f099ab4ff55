"""`rlnas train`: option handling and the live progress display (the CLI stays a thin wrapper)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.apex.launch import train
from rlnas.agents.apex.run import RunSpec, read_checkpoint, resume_spec
from rlnas.agents.options import config_overrides
from rlnas.agents.policy import holds_training_run
from rlnas.agents.settings import check_steps_left
from rlnas.benchmarks import BENCHMARKS
from rlnas.errors import ConfigError
from rlnas.files import held_folder
from rlnas.ray_cluster import check_executor, check_ray_options

DEFAULT_BENCHMARK = "nb201-cifar10"
#: Printed after a run that made no learner update (shared with `rlnas train --tasks`).
UNTRAINED_NOTE = (
    "note: no learner update was made, so the policy is untrained: give --steps well above --learning-starts"
)


def build_spec(
    *,
    benchmark: str | None,
    executor: str | None,
    config: Path | None,
    resume: Path | None,
    overrides: dict | None = None,
) -> RunSpec:
    """The run to train: a new one from the options, or the resumed one with the options checked against it.

    `overrides` are `ApeXConfig` fields given as options; they win over the --config file.
    """
    if benchmark is not None and benchmark not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    if executor is not None:
        check_executor(executor)
    overrides = overrides or {}
    if resume is not None:
        checkpoint = read_checkpoint(resume)
        saved = RunSpec.from_dict(checkpoint["spec"])
        base = ApeXConfig.from_toml(config) if config is not None else saved.config
        requested = RunSpec(benchmark or saved.benchmark, executor or saved.executor, base.replace(**overrides))
        spec = resume_spec(saved, requested)  # raises ConfigError on a change a resume cannot make
        check_steps_left(checkpoint["counters"]["env_steps"], spec.config.total_env_steps, saved.config.total_env_steps)
        return spec
    base = ApeXConfig.from_toml(config) if config is not None else ApeXConfig()
    return RunSpec(benchmark or DEFAULT_BENCHMARK, executor or "local", base.replace(**overrides))


def _describe(row: dict) -> str:
    return (
        f"{row['env_steps_per_s']:7.0f} steps/s  {row['updates_per_s']:5.1f} updates/s  "
        f"{row['steps_per_update']:5.1f} steps/update  loss {row['loss']:.4f}  "
        f"episode best {row['episode_best_score']:.4f} (greedy {row['greedy_best_score']:.4f})"
    )


@contextmanager
def training_progress(console: Console, description: str, total: int) -> Iterator[Callable[[int, str], None]]:
    """`update(steps done, stats)` of a training run's progress bar (description, bar, steps of `total`, time,
    stats; shared with `rlnas train --tasks`). The bar is drawn from the first update; until then a transient
    status says the run is starting, so that a run refused while it loads prints its error line alone."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
    )
    status = console.status(f"{description}: starting (loading the benchmark)")
    tasks = []

    def update(steps: int, stats: str) -> None:
        if not tasks:
            status.stop()
            progress.start()
            tasks.append(progress.add_task(description, total=total, stats=stats))
        progress.update(tasks[0], completed=min(steps, total), stats=stats)

    status.start()
    try:
        yield update
    finally:
        status.stop()
        if tasks:
            progress.stop()


def run_train_command(
    *,
    benchmark: str | None,
    executor: str | None,
    minutes: float | None,
    out: Path | None,
    config: Path | None,
    resume: Path | None,
    address: str | None,
    data: str | None,
    console: Console,
    **options,
) -> dict:
    """`rlnas train`; `options` are `ApeXConfig` fields (or their aliases, e.g. `steps`), None where not given."""
    if minutes is not None and not minutes > 0:  # nan too; inf: no time limit
        raise ConfigError(f"--minutes must be positive, got {minutes}")
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise ConfigError("--resume DIR continues the run in DIR; leave out --out or give the same folder")
    spec = build_spec(
        benchmark=benchmark, executor=executor, config=config, resume=resume, overrides=config_overrides(options)
    )
    check_ray_options(spec.executor, address)
    folder = Path(resume) if resume is not None else Path(out or f"runs/train-{spec.benchmark}")
    if folder.is_file():
        raise ConfigError(f"--out {folder} is a file; give a folder")
    if resume is None and holds_training_run(folder):
        raise ConfigError(
            f"{folder} already holds a training run; resume it with --resume {folder} or pick another --out"
        )
    description = f"{'resuming' if resume else 'training'} on {spec.benchmark}"
    with held_folder(folder, "train"), training_progress(console, description, spec.config.total_env_steps) as update:
        summary = train(
            spec,
            folder,
            resume=resume is not None,
            minutes=minutes,
            data=data,
            address=address,
            progress=lambda row: update(row["env_steps"], _describe(row)),
        )
    restarts = summary.get("actor_restarts")
    console.print(
        f"trained {summary['env_steps']:,} environment steps, {summary['updates']:,} learner updates"
        + (f", {restarts} actor restart(s)" if restarts else "")
        + f"; wrote {folder}/policy.pt, checkpoint.pt, metrics.csv and tb/"
    )
    if not summary["updates"]:
        console.print(UNTRAINED_NOTE)
    return summary
