"""Search spaces: limits, op sets, neighbour rules and samplers."""

from rlnas.spaces.base import SearchSpace
from rlnas.spaces.dag import NB101_SPACE, DAGSpace
from rlnas.spaces.darts import DARTS_SPACE, DARTSSpace
from rlnas.spaces.nb201 import NB201_SPACE, NB201Space
from rlnas.spaces.nbgraph import NBGRAPH_PROTEINS_SPACE, NBGRAPH_SPACE, NBGraphSpace

SPACES: dict[str, SearchSpace] = {
    "nb101": NB101_SPACE,
    "nb201": NB201_SPACE,
    "nbgraph": NBGRAPH_SPACE,
    "nbgraph-proteins": NBGRAPH_PROTEINS_SPACE,
    "darts": DARTS_SPACE,
}

__all__ = [
    "DARTS_SPACE",
    "NB101_SPACE",
    "NB201_SPACE",
    "NBGRAPH_PROTEINS_SPACE",
    "NBGRAPH_SPACE",
    "SPACES",
    "DAGSpace",
    "DARTSSpace",
    "NB201Space",
    "NBGraphSpace",
    "SearchSpace",
]
