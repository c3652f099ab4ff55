"""Ops-on-edges cells (NAS-Bench-201, DARTS) as ops-on-nodes cells, and back.

Every edge that carries an op becomes a vertex with one in-edge from the edge's source and one
out-edge to its destination; every original node but the inputs becomes a reduction (sum) vertex;
the designated output nodes feed a final output vertex. Vertices are laid out node by node: the
inputs (labels INPUT, INPUT2, in order), then for each later node the op vertices of its incoming
edges (by source, then op) followed by its sum vertex, and last the output. That fixed layout makes
the conversion lossless both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlnas.cells.cell import INPUTS, OUTPUT, SUM, Cell, bits
from rlnas.errors import InvalidCellError


@dataclass(frozen=True)
class EdgeCell:
    """A cell with ops on edges: nodes 0..num_inputs-1 are the inputs, `edges` are (source, destination, op)."""

    num_nodes: int
    edges: tuple[tuple[int, int, int], ...]
    output_nodes: tuple[int, ...]
    num_inputs: int = 1


def edges_to_nodes(cell: EdgeCell) -> Cell:
    k = cell.num_inputs
    if not 1 <= k <= len(INPUTS) or cell.num_nodes <= k:
        raise InvalidCellError(
            f"{k} inputs among {cell.num_nodes} nodes; give 1..{len(INPUTS)} inputs and a later node"
        )
    incoming: list[list[tuple[int, int]]] = [[] for _ in range(cell.num_nodes)]
    for src, dst, op in cell.edges:
        if not 0 <= src < dst < cell.num_nodes or dst < k:
            raise InvalidCellError(
                f"edge {src}->{dst} must go forward between nodes 0..{cell.num_nodes - 1}, into a node after the inputs"
            )
        incoming[dst].append((src, op))
    node_vertex = list(range(k))  # vertex index of each original node
    ops = list(INPUTS[:k])
    out_edges: list[int] = [0] * k
    for dst in range(k, cell.num_nodes):
        sum_vertex = len(ops) + len(incoming[dst])
        for src, op in sorted(incoming[dst]):
            out_edges[node_vertex[src]] |= 1 << len(ops)
            ops.append(op)
            out_edges.append(1 << sum_vertex)
        node_vertex.append(len(ops))
        ops.append(SUM)
        out_edges.append(0)
    output = len(ops)
    for node in cell.output_nodes:
        out_edges[node_vertex[node]] |= 1 << output
    ops.append(OUTPUT)
    out_edges.append(0)
    return Cell(tuple(out_edges), tuple(ops))


def nodes_to_edges(cell: Cell) -> EdgeCell:
    """Invert `edges_to_nodes`; the inputs are nodes 0..k-1 and the sum vertices, in order, the nodes k, k+1, ..."""
    k = cell.num_inputs
    node_of_vertex = {v: v for v in range(k)}
    for v, label in enumerate(cell.ops):
        if label == SUM:
            node_of_vertex[v] = len(node_of_vertex)
    edges = []
    output_nodes = []
    for v, label in enumerate(cell.ops):
        succ = bits(cell.rows[v])
        if label >= 0:
            pred = [u for u in range(v) if cell.rows[u] >> v & 1]
            if len(pred) != 1 or len(succ) != 1 or pred[0] not in node_of_vertex or succ[0] not in node_of_vertex:
                raise InvalidCellError(f"op vertex {v} must have one input node and one output sum vertex")
            edges.append((node_of_vertex[pred[0]], node_of_vertex[succ[0]], label))
        elif v in node_of_vertex and succ and succ[-1] == len(cell.ops) - 1:
            output_nodes.append(node_of_vertex[v])
    edges.sort(key=lambda e: (e[1], e[0], e[2]))
    return EdgeCell(len(node_of_vertex), tuple(edges), tuple(output_nodes), k)
