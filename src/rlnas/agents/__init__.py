"""Learned searchers: the transformer Q-network, Ape-X training, and the reusable policy.

The exports load on first use (PEP 562), so that `rlnas.agents.apex.config`, which the CLI reads
to build the `train` options, is importable without PyTorch.
"""

from __future__ import annotations

__all__ = ["Policy", "load_policy"]


def __getattr__(name: str):
    if name in __all__:
        from rlnas.agents import policy

        return getattr(policy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
