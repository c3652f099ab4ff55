"""A cell as arrays for a network: vertex tokens, adjacency and a vertex mask, padded to a fixed size."""

import numpy as np

from rlnas.cells.cell import INPUT, INPUT2, OUTPUT, SUM, Cell
from rlnas.errors import InvalidCellError

#: Token ids of the special vertex labels (minus the label); 0 pads, op k is `op_offset + k`.
SPECIAL_TOKENS = {INPUT: 1, OUTPUT: 2, SUM: 3, INPUT2: 4}
OPS_START = 5


def encode_padded(
    cell: Cell, max_vertices: int, op_offset: int = OPS_START
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens, adjacency, vertex mask) of a cell, padded to `max_vertices`; new int8 arrays.

    `op_offset` below OPS_START is a vocabulary without the second input (single-input spaces); a
    cell that has one is refused rather than given an op's token."""
    n = cell.num_vertices
    if n > max_vertices:
        raise InvalidCellError(f"a cell of {n} vertices does not fit an encoding of {max_vertices} vertices")
    labels = np.asarray(cell.ops, dtype=np.int16)
    if op_offset < OPS_START and INPUT2 in cell.ops:
        raise InvalidCellError(f"a vocabulary whose ops start at {op_offset} has no token for a second input")
    tokens = np.zeros(max_vertices, dtype=np.int8)
    tokens[:n] = np.where(labels < 0, -labels, labels + op_offset)
    adjacency = np.zeros((max_vertices, max_vertices), dtype=np.int8)
    rows = np.asarray(cell.rows, dtype=np.int64)
    adjacency[:n, :max_vertices] = (rows[:, None] >> np.arange(max_vertices)) & 1
    vertex_mask = np.zeros(max_vertices, dtype=np.int8)
    vertex_mask[:n] = 1
    return tokens, adjacency, vertex_mask
