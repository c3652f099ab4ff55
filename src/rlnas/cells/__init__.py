"""Cells: ops-on-nodes DAGs, their pruning and hashing, the ops-on-edges conversion, several-cell architectures."""

from rlnas.cells.arch import Arch, from_json
from rlnas.cells.cell import INPUT, INPUT2, INPUTS, OUTPUT, SUM, Cell, module_hash
from rlnas.cells.conversion import EdgeCell, edges_to_nodes, nodes_to_edges

__all__ = [
    "INPUT",
    "INPUT2",
    "INPUTS",
    "OUTPUT",
    "SUM",
    "Arch",
    "Cell",
    "EdgeCell",
    "edges_to_nodes",
    "from_json",
    "module_hash",
    "nodes_to_edges",
]
