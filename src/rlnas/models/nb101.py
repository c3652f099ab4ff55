"""The NAS-Bench-101 network (Ying et al. 2019), as its TensorFlow model builder defines it.

Skeleton: a 3x3 conv-BN-ReLU stem to `width` channels; three stacks of `depth` cells, with a 2x2
max-pool and the channels doubled before stacks 2 and 3; global average pooling; a linear layer.
Inside a cell the output concatenates the interior vertices that feed it, the output channels
split evenly among them (the remainder one each to the lowest-numbered); a vertex that does not
feed the output takes the largest channel count of its successors; the cell input reaches each
vertex it feeds through a 1x1 conv-BN-ReLU projection, and is added to the output the same way
when it feeds the output; inputs from other vertices are truncated to the channels of the vertex
they feed (they have at most one channel more). Convolutions have no bias. The 2x2 pooling rounds
odd sizes up, as TensorFlow's 'same' padding does.
"""

from __future__ import annotations

import torch
from torch import nn

from rlnas.cells import Cell
from rlnas.cells.cell import bits
from rlnas.errors import ConfigError
from rlnas.spaces import NB101_SPACE

PUBLISHED_WIDTH = 128
PUBLISHED_DEPTH = 3
NUM_STACKS = 3


def conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def _op(name: str, channels: int) -> nn.Module:
    if name == "conv3x3-bn-relu":
        return conv_bn_relu(channels, channels, 3)
    if name == "conv1x1-bn-relu":
        return conv_bn_relu(channels, channels, 1)
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ConfigError(f"the NB101 network has no op {name!r}")


def vertex_channels(cell: Cell, c_in: int, c_out: int) -> list[int]:
    """Output channels of every vertex (input first, output last) of a pruned cell."""
    n = cell.num_vertices
    out = n - 1
    channels = [c_in, *[0] * (n - 2), c_out]
    feeders = [v for v in range(1, out) if cell.rows[v] >> out & 1]
    if not feeders:
        return channels
    share, extra = divmod(c_out, len(feeders))
    if share == 0:
        raise ConfigError(f"width {c_out} is too small for a cell whose output concatenates {len(feeders)} vertices")
    for k, v in enumerate(feeders):
        channels[v] = share + (k < extra)
    for v in range(out - 1, 0, -1):
        if not cell.rows[v] >> out & 1:
            channels[v] = max(channels[w] for w in bits(cell.rows[v]))
    return channels


class NB101Cell(nn.Module):
    def __init__(self, cell: Cell, c_in: int, c_out: int):
        super().__init__()
        n = cell.num_vertices
        self.channels = vertex_channels(cell, c_in, c_out)
        self.predecessors = [[u for u in range(1, v) if cell.rows[u] >> v & 1] for v in range(n)]
        self.output_inputs = self.predecessors[-1]
        self.projections = nn.ModuleDict(
            {str(v): conv_bn_relu(c_in, self.channels[v], 1) for v in bits(cell.rows[0]) if v < n - 1}
        )
        self.output_projection = conv_bn_relu(c_in, c_out, 1) if cell.rows[0] >> (n - 1) & 1 else None
        self.ops = nn.ModuleList([_op(NB101_SPACE.op_names[cell.ops[v]], self.channels[v]) for v in range(1, n - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = [x]
        for v, op in enumerate(self.ops, start=1):
            c = self.channels[v]
            terms = [values[u][:, :c] for u in self.predecessors[v]]
            if str(v) in self.projections:
                terms.append(self.projections[str(v)](x))
            values.append(op(sum(terms[1:], terms[0])))
        if not self.output_inputs:  # a pruned cell without interior vertices: input -> output
            return self.output_projection(x)
        out = torch.cat([values[v] for v in self.output_inputs], dim=1)
        return out if self.output_projection is None else out + self.output_projection(x)


class NB101Network(nn.Module):
    def __init__(self, cell: Cell, width: int, depth: int, in_channels: int, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(in_channels, width, 3)]
        c_in, channels = width, width
        for stack in range(NUM_STACKS):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                channels *= 2
            for _ in range(depth):
                layers.append(NB101Cell(cell, c_in, channels))
                c_in = channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def build(cell: Cell, width: int, depth: int, in_channels: int, num_classes: int) -> nn.Module:
    return NB101Network(cell, width, depth, in_channels, num_classes)
