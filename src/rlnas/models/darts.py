"""The DARTS evaluation network (Liu et al. 2019) at NAS-Bench-301's setting (Siems et al. 2020).

Skeleton: a 3x3 conv + BN stem to 3·`width` channels; `depth` cells, those at 1/3 and 2/3 of the
depth reduction cells (stride 2 on the edges from the cell's inputs, twice the channels); global
average pooling; a linear layer. Each cell takes the outputs of the two cells before it (the stem's
output stands in for both at the start), brings them to its channel count with ReLU-conv1x1-BN, or
with a FactorizedReduce where the cell before was a reduction (its input two cells back then has
twice the resolution), sums two edges into each of nodes 2..5 and concatenates the four nodes.

Ops: 3x3 max and average pooling (padding not counted in the average), identity (a
FactorizedReduce on a stride-2 edge), separable convs (ReLU, depthwise, pointwise, BN, twice, the
first with the edge's stride) and dilated convs (ReLU, depthwise with dilation 2, pointwise, BN).
Convolutions have no bias. The BNs inside ops learn no scale and shift, the stem's and the
preprocessing's do: that is what NB301's parameter counts imply (docs/training.md); NB301 trained
with an auxiliary head, which its counts leave out, as DARTS counted. No auxiliary head and no
drop-path here (training details, not parameters).

A FactorizedReduce pads an odd-sized input by one row and column before its shifted half, so that
both halves (and the stride-2 convs and pools beside it) give ceil(n/2) on any size; on the even
sizes of CIFAR this changes nothing.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rlnas.cells import Arch, EdgeCell
from rlnas.models.edge_cell import EdgeCellModule
from rlnas.spaces.darts import DARTS_OPS, DARTS_SPACE, NODES, Pairs

PUBLISHED_WIDTH = 32
PUBLISHED_DEPTH = 8
#: Channels of the stem, in multiples of the width (DARTS' stem multiplier).
STEM_MULTIPLIER = 3


def relu_conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


class FactorizedReduce(nn.Module):
    """Half the resolution without losing every other pixel: two stride-2 1x1 convs, one on the input
    shifted by a pixel, concatenated (each gives half the output channels), then BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def depthwise_pointwise(channels: int, kernel: int, stride: int, dilation: int) -> list[nn.Module]:
    """ReLU, a depthwise conv, a pointwise conv and a BN without scale and shift."""
    return [
        nn.ReLU(),
        nn.Conv2d(
            channels,
            channels,
            kernel,
            stride=stride,
            padding=dilation * (kernel // 2),
            dilation=dilation,
            groups=channels,
            bias=False,
        ),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels, affine=False),
    ]


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine=False)
    kind, kernel = name[:8], int(name[-1])
    if kind == "sep_conv":
        return nn.Sequential(
            *depthwise_pointwise(channels, kernel, stride, 1), *depthwise_pointwise(channels, kernel, 1, 1)
        )
    if kind == "dil_conv":
        return nn.Sequential(*depthwise_pointwise(channels, kernel, stride, 2))
    raise ValueError(f"the DARTS network has no op {name!r}")


class DartsCell(nn.Module):
    """One cell: its two inputs preprocessed to `channels`, then the edges, then the concatenation."""

    def __init__(self, pairs: Pairs, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, after: bool):
        super().__init__()
        self.preprocess0 = FactorizedReduce(c_prev_prev, channels) if after else relu_conv_bn(c_prev_prev, channels)
        self.preprocess1 = relu_conv_bn(c_prev, channels)
        edges = tuple((src, NODES[e // 2], op) for e, (src, op) in enumerate(pairs))
        stride = 2 if reduction else 1
        self.edges = EdgeCellModule(
            EdgeCell(NODES[-1] + 1, edges, NODES, num_inputs=2),
            channels,
            lambda edge, c: make_op(DARTS_OPS[edge[2]], c, stride if edge[0] < 2 else 1),
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        return self.edges(self.preprocess0(s0), self.preprocess1(s1))


class DartsNetwork(nn.Module):
    def __init__(self, normal: Pairs, reduce: Pairs, width: int, depth: int, in_channels: int, num_classes: int):
        super().__init__()
        stem = STEM_MULTIPLIER * width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem))
        reductions = {depth // 3, 2 * depth // 3}
        c_prev_prev, c_prev, channels, after = stem, stem, width, False
        self.cells = nn.ModuleList()
        for i in range(depth):
            reduction = i in reductions
            if reduction:
                channels *= 2
            cell = DartsCell(reduce if reduction else normal, c_prev_prev, c_prev, channels, reduction, after)
            self.cells.append(cell)
            c_prev_prev, c_prev, after = c_prev, len(NODES) * channels, reduction
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean(dim=(2, 3)))


def build(arch: Arch, width: int, depth: int, in_channels: int, num_classes: int) -> nn.Module:
    normal, reduce = DARTS_SPACE.pairs(arch)
    return DartsNetwork(normal, reduce, width, depth, in_channels, num_classes)
