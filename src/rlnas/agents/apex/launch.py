"""`train()`: the library entry point of a training run; it picks the executor and restores what it changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rlnas.agents.apex.local import LocalExecutor
from rlnas.agents.apex.ray_executor import RayExecutor
from rlnas.agents.apex.run import RunSpec, TrainingRun
from rlnas.benchmarks import Benchmark
from rlnas.devices import torch_threads
from rlnas.errors import ConfigError


def train(
    spec: RunSpec | None,
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
    """Train (or resume, with `resume=True` and `spec` None or compatible) an Ape-X agent into `out`.

    The process's PyTorch thread count is set to `torch_threads` for the run and restored after it;
    a Ray instance the run starts is shut down at its end (one it finds running is left running).
    """
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
    if address is not None and run.spec.executor != "ray":
        raise ConfigError("--address joins a Ray cluster; use it with --executor ray")
    with torch_threads(run.config.torch_threads):
        if run.spec.executor == "ray":
            return RayExecutor(run, address=address).train()
        return LocalExecutor(run).train()
