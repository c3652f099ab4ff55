"""Where PyTorch work runs: the one rule for a `--device` value, and the device it resolves to.

Checking needs no PyTorch (options are validated before anything heavy loads); resolving imports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rlnas.errors import ConfigError


def check_device(name: str, option: str = "--device") -> None:
    """`auto` (CUDA when available), `cpu`, `cuda` or `cuda:N`; else one line naming `option`."""
    if name not in ("auto", "cpu", "cuda") and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ConfigError(f"{option} must be auto, cpu, cuda or cuda:N, got {name!r}")


def resolve_device(name: str) -> str:
    """The device `name` stands for here: `auto` picks CUDA when torch sees a GPU; a GPU asked for where
    torch sees none is one line, not an error deep inside the first tensor moved."""
    import torch

    check_device(name)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no GPU; use --device cpu or auto")
    return name


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` intra-op torch threads (None or 0: leave them), then restore the caller's.

    One thread is what makes small-network work bit-reproducible across machines (a reduction split over
    threads sums in another order) and fast on a shared machine."""
    import torch

    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
