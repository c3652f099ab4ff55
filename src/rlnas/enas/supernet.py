"""The ENAS weight-sharing supernet over the NB201 space.

Every edge of every cell holds one module per op (`rlnas.models.nb201.make_op`, 'none' has
none); all children share them. A child is one op per edge, in NB201's edge order: its forward
runs exactly the modules it selects, in the NB201 skeleton (`NB201Network`), so a child of the
supernet computes what the stand-alone network of the same cell computes with the same weights.

Batch norm always normalises by the statistics of the batch at hand (no running statistics):
running averages would mix the activations of every child the supernet has trained, and score
each child with statistics of others (ENAS's code, too, rewards the children of its cell search in
training mode, with batch statistics).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rlnas.models.nb201 import NB201Network, make_op
from rlnas.spaces.nb201 import NB201_EDGES, NB201_OPS

#: An NB201 child: one op index per edge, in the order of `NB201_EDGES`.
Arch = Sequence[int]


class SharedCell(nn.Module):
    """One NB201 cell whose edges hold every op; `arch` (set by the supernet) selects one per edge.

    The node semantics are those of `rlnas.models.edge_cell.EdgeCellModule`: a node is the sum of its
    incoming edges; an op whose source node received nothing runs on zeros; 'none' adds nothing.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.edges = nn.ModuleList()
        for src, dst in NB201_EDGES:
            ops = {str(k): make_op((src, dst, k), channels) for k in range(len(NB201_OPS))}
            self.edges.append(nn.ModuleDict({k: op for k, op in ops.items() if op is not None}))
        self.arch: Arch = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (src, dst), ops, label in zip(NB201_EDGES, self.edges, self.arch, strict=True):
            if str(label) not in ops:  # 'none'
                continue
            term = ops[str(label)](torch.zeros_like(x) if nodes[src] is None else nodes[src])
            nodes[dst] = term if nodes[dst] is None else nodes[dst] + term
        return torch.zeros_like(x) if nodes[3] is None else nodes[3]


class Supernet(nn.Module):
    """The NB201 skeleton with shared cells; `forward(x, arch)` runs the child `arch`."""

    def __init__(self, width: int, depth: int, in_channels: int, num_classes: int):
        super().__init__()
        self.network = NB201Network(SharedCell, width, depth, in_channels, num_classes)
        self.cells = [m for m in self.network.modules() if isinstance(m, SharedCell)]
        for norm in self.network.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.track_running_stats = False
                norm.running_mean = norm.running_var = norm.num_batches_tracked = None

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor:
        if len(arch) != len(NB201_EDGES) or any(not 0 <= int(k) < len(NB201_OPS) for k in arch):
            raise ValueError(f"a child is {len(NB201_EDGES)} op indices 0..{len(NB201_OPS) - 1}, got {arch}")
        for cell in self.cells:
            cell.arch = tuple(int(k) for k in arch)
        return self.network(x)

    def op_modules(self, edge: int, label: int) -> list[nn.Module]:
        """The module of op `label` on edge `edge` in every cell (empty for 'none')."""
        return [cell.edges[edge][str(label)] for cell in self.cells if str(label) in cell.edges[edge]]
