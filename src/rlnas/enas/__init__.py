"""ENAS weight sharing on the NB201 space: the supernet, the alternating training, the derivation.

`run_enas(dataset, ENASConfig(...), seed)` is the whole run (`rlnas enas` on the command line);
`ENASSearch` exposes its steps. torch is needed, except by `ENASConfig`: the other exports load on first
use (PEP 562), so that the CLI builds the `enas` options from `rlnas.enas.config` without PyTorch.
"""

from __future__ import annotations

from rlnas.enas.config import ENASConfig

__all__ = ["ENASConfig", "ENASSearch", "SharedCell", "Supernet", "rank_children", "run_enas"]


def __getattr__(name: str):
    if name in ("ENASSearch", "rank_children", "run_enas"):
        from rlnas.enas import search

        return getattr(search, name)
    if name in ("SharedCell", "Supernet"):
        from rlnas.enas import supernet

        return getattr(supernet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
