"""Cells as PyTorch networks: each space's macro skeleton (stem, stacked cells, downsampling, classifier).

One builder per space, registered under the space's name. A builder gets a pruned, valid cell and
a `Macro` that sizes the skeleton; left at None, width and depth take the setting the space's
benchmark published, at which the parameter counts equal the published ones. A new space (DARTS)
adds its module with `build`, `PUBLISHED_WIDTH` and `PUBLISHED_DEPTH`, and one entry in
`_BUILDERS`; ops-on-edges spaces reuse `rlnas.models.edge_cell.EdgeCellModule` with their own op
factory.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import torch
from torch import nn

from rlnas.cells import Cell
from rlnas.errors import ConfigError
from rlnas.models import nb101, nb201
from rlnas.spaces import SearchSpace

_BUILDERS: dict[str, ModuleType] = {"nb101": nb101, "nb201": nb201}


@dataclass(frozen=True)
class Macro:
    """The size of the network around the cell."""

    width: int | None = None
    """Channels after the stem, doubled at each of the two downsamplings; None: the published
    setting (NB101 128, NB201 16)."""
    depth: int | None = None
    """Cells per stack (NB101) or stage (NB201); None: the published setting (NB101 3, NB201 5)."""
    in_channels: int = 3
    """Channels of the input images (1 for greyscale)."""
    num_classes: int = 10
    """Outputs of the final linear layer."""


def build_model(space: SearchSpace, cell: Cell, macro: Macro = Macro()) -> nn.Module:
    """The network of `cell` in `space`'s skeleton; raises InvalidCellError for a cell outside the space."""
    builder = _BUILDERS.get(space.name)
    if builder is None:
        raise ConfigError(f"no model builder for the {space.name} space; models exist for {', '.join(_BUILDERS)}")
    width = builder.PUBLISHED_WIDTH if macro.width is None else macro.width
    depth = builder.PUBLISHED_DEPTH if macro.depth is None else macro.depth
    if width < 1 or depth < 1 or macro.in_channels < 1 or macro.num_classes < 1:
        raise ConfigError(
            f"width, depth, input channels and classes must be at least 1, got {width}, {depth}, "
            f"{macro.in_channels}, {macro.num_classes}"
        )
    return builder.build(space.validate(cell), width, depth, macro.in_channels, macro.num_classes)


def has_builder(space: SearchSpace) -> bool:
    return space.name in _BUILDERS


def parameter_count(space: SearchSpace, cell: Cell, macro: Macro = Macro()) -> int:
    """Trainable parameters of the network, counted on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        model = build_model(space, cell, macro)
    return count_parameters(model)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["Macro", "build_model", "count_parameters", "has_builder", "parameter_count"]
