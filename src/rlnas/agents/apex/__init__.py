"""Ape-X training of the Q-network: one algorithm, an in-process and a Ray executor.

Modules, in import order: `config` (hyperparameters), `replay`, `algorithm` (actor and learner),
`run` (a run's folder, metrics and checkpoints), `local` and `ray_executor` (the executors),
`launch` (`train()`, which picks the executor). `rlnas train`'s options are `rlnas.agents.options`, its
command `rlnas.experiments.apex_train`. The exports below load on first use, so that importing `config`
alone needs no PyTorch.
"""

from __future__ import annotations

from rlnas.agents.apex.config import ApeXConfig

__all__ = ["ApeXConfig", "RunSpec", "read_checkpoint", "train"]


def __getattr__(name: str):
    if name in ("RunSpec", "read_checkpoint"):
        from rlnas.agents.apex import run

        return getattr(run, name)
    if name == "train":
        from rlnas.agents.apex.launch import train

        return train
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
