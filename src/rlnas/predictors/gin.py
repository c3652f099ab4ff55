"""A graph isomorphism network (Xu et al. 2019) ensemble over a cell's vertex tokens and adjacency.

Vertices start from an embedding (an affine map of the one-hot) of their token: the op, or
input/output/sum/second input (`rlnas.cells.encoding`, padded to the space's `max_vertices`).
Each round, a vertex adds up what its predecessors and, separately, its successors hold (a cell
is directed: what feeds a vertex and what it feeds are different things), and a two-layer MLP of
the three sums updates it, with a residual connection. The mean over the cell's vertices goes
through an MLP head to the score; an architecture of several cells (DARTS: normal and reduction)
runs every cell through the same rounds and concatenates the cells' means, in their fixed order.
Sum aggregation makes the network as discriminative as the 1-WL test, and the readout does not
depend on the vertex order, so isomorphic cells get the same prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rlnas.cells import Arch, Cell
from rlnas.cells.encoding import OPS_START, encode_padded
from rlnas.predictors.config import GINConfig
from rlnas.predictors.ensemble import EnsembleLinear, EnsemblePredictor, ensemble_mlp
from rlnas.spaces import SearchSpace


class _GIN(nn.Module):
    def __init__(self, config: GINConfig, vocabulary: int, num_cells: int, generator: torch.Generator):
        super().__init__()
        k, d = config.ensemble_size, config.hidden_size
        self.embedding = EnsembleLinear(k, vocabulary, d, generator)
        self.rounds = nn.ModuleList(
            nn.Sequential(EnsembleLinear(k, 3 * d, d, generator), nn.ReLU(), EnsembleLinear(k, d, d, generator))
            for _ in range(config.num_layers)
        )
        self.head = ensemble_mlp(k, num_cells * d, d, 1, 1, generator)

    def forward(self, one_hot: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k, archs, cells, vertices, vocabulary = one_hot.shape
        batch = archs * cells  # every cell of every architecture, through the same rounds
        adjacency, mask = adjacency.reshape(k, batch, vertices, vertices), mask.reshape(k, batch, vertices)
        # a product with one-hot tokens, not an index: its gradient sums in a fixed order (deterministic)
        h = self.embedding(one_hot.reshape(k, batch * vertices, vocabulary)).view(k, batch, vertices, -1)
        incoming = adjacency.transpose(-1, -2)
        for update in self.rounds:
            messages = torch.cat([h, incoming @ h, adjacency @ h], dim=-1)
            h = h + update(messages.view(k, batch * vertices, -1)).view(h.shape)
            h = torch.relu(h)
        pooled = (h * mask.unsqueeze(-1)).sum(dim=2) / mask.sum(dim=2, keepdim=True)
        return self.head(pooled.reshape(k, archs, -1)).squeeze(-1)


class GINPredictor(EnsemblePredictor):
    config: GINConfig

    def __init__(self, space: SearchSpace, config: GINConfig | None = None):
        super().__init__(config or GINConfig())
        self.max_vertices = int(space.max_vertices)
        self.vocabulary = OPS_START + len(space.op_names)

    def encode(self, cells: Sequence[Cell | Arch], fitting: bool) -> tuple[torch.Tensor, ...]:
        parts = [arch.cells if isinstance(arch, Arch) else (arch,) for arch in cells]
        encoded = [[encode_padded(cell, self.max_vertices) for cell in p] for p in parts]
        tokens, adjacency, mask = (np.array([[e[i] for e in arch] for arch in encoded]) for i in range(3))
        one_hot = np.eye(self.vocabulary, dtype=np.float32)[tokens]
        return (
            torch.from_numpy(one_hot),
            torch.from_numpy(adjacency.astype(np.float32)),
            torch.from_numpy(mask.astype(np.float32)),
        )

    def build(self, generator: torch.Generator) -> nn.Module:
        return _GIN(self.config, self.vocabulary, self.num_cells, generator)
