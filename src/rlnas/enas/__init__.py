"""ENAS weight sharing on the NB201 space: the supernet, the alternating training, the derivation.

`run_enas(dataset, ENASConfig(...), seed)` is the whole run (`rlnas enas` on the command line);
`ENASSearch` exposes its steps. torch is needed.
"""

from rlnas.enas.search import ENASConfig, ENASSearch, rank_children, run_enas
from rlnas.enas.supernet import SharedCell, Supernet

__all__ = ["ENASConfig", "ENASSearch", "SharedCell", "Supernet", "rank_children", "run_enas"]
