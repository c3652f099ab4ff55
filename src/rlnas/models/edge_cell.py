"""A cell with ops on edges (NAS-Bench-201; DARTS when it lands) as a module.

The first `num_inputs` nodes are the cell's inputs (NB201 has one, DARTS two); every later node is
the sum of its incoming edges' ops applied to their source nodes; the cell's output concatenates
its output nodes (NB201 has one, DARTS four). The space supplies an op factory, which sees the
edge (so that DARTS can give edges from the inputs of a reduction cell a stride); it returns None
for an edge that contributes nothing ('none'), which is then skipped instead of computing zeros.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rlnas.cells import EdgeCell

#: ((source, destination, op label), channels) -> the edge's module, or None for the zero op.
OpFactory = Callable[[tuple[int, int, int], int], nn.Module | None]


class EdgeCellModule(nn.Module):
    def __init__(self, cell: EdgeCell, channels: int, make_op: OpFactory):
        super().__init__()
        self.num_nodes = cell.num_nodes
        self.output_nodes = cell.output_nodes
        self.edges: list[tuple[int, int]] = []
        self.ops = nn.ModuleList()
        for src, dst, label in cell.edges:
            op = make_op((src, dst, label), channels)
            if op is not None:
                self.edges.append((src, dst))
                self.ops.append(op)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [*inputs, *[None] * (self.num_nodes - len(inputs))]
        zero = inputs[-1]
        for (src, dst), op in zip(self.edges, self.ops, strict=True):
            term = op(torch.zeros_like(zero) if nodes[src] is None else nodes[src])
            nodes[dst] = term if nodes[dst] is None else nodes[dst] + term
        outputs = [torch.zeros_like(zero) if nodes[k] is None else nodes[k] for k in self.output_nodes]
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
