"""The NAS-Bench-201 network (Dong & Yang 2020), as its `TinyNetwork` defines it.

Skeleton: a 3x3 conv + BN stem to `width` channels; three stages of `depth` cells at `width`,
2·`width` and 4·`width` channels, joined by ResNet basic blocks that halve the resolution
(ReLU-conv3x3-BN with stride 2, ReLU-conv3x3-BN, and a shortcut of 2x2 average pooling and a
1x1 conv); BN + ReLU; global average pooling; a linear layer. The cell's ops: zero, identity,
ReLU-conv1x1-BN, ReLU-conv3x3-BN, 3x3 average pooling (padding not counted). Convolutions have
no bias. The shortcut's pooling rounds odd sizes up, so that it matches the strided conv's output
on any input size (NB201's own inputs are even, where this changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rlnas.cells import Cell, nodes_to_edges
from rlnas.errors import ConfigError
from rlnas.models.edge_cell import EdgeCellModule
from rlnas.spaces.nb201 import NB201_OPS

PUBLISHED_WIDTH = 16
PUBLISHED_DEPTH = 5


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out)
    )


def make_op(edge: tuple[int, int, int], channels: int) -> nn.Module | None:
    name = NB201_OPS[edge[2]]
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return relu_conv_bn(channels, channels, 1)
    if name == "nor_conv_3x3":
        return relu_conv_bn(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ConfigError(f"the NB201 network has no op {name!r}")


class ResidualReduction(nn.Module):
    """NB201's ResNet basic block between stages: half the resolution, twice the channels."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = relu_conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class NB201Network(nn.Module):
    """The skeleton around `make_cell(channels)`, called once per cell (the ENAS supernet passes shared cells)."""

    def __init__(
        self, make_cell: Callable[[int], nn.Module], width: int, depth: int, in_channels: int, num_classes: int
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
        channels = width
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(channels, 2 * channels))
                channels *= 2
            layers.extend(make_cell(channels) for _ in range(depth))
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def build(cell: Cell, width: int, depth: int, in_channels: int, num_classes: int) -> nn.Module:
    edge_cell = nodes_to_edges(cell)
    return NB201Network(
        lambda channels: EdgeCellModule(edge_cell, channels, make_op), width, depth, in_channels, num_classes
    )
