"""Cells: ops-on-nodes DAGs, their pruning and hashing, and the ops-on-edges conversion."""

from rlnas.cells.cell import INPUT, OUTPUT, SUM, Cell, module_hash
from rlnas.cells.conversion import EdgeCell, edges_to_nodes, nodes_to_edges

__all__ = ["INPUT", "OUTPUT", "SUM", "Cell", "EdgeCell", "edges_to_nodes", "module_hash", "nodes_to_edges"]
