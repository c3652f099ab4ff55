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
from rlnas.models import darts, nb101, nb201
from rlnas.spaces import SearchSpace

_BUILDERS: dict[str, ModuleType] = {"nb101": nb101, "nb201": nb201, "darts": darts}
#: The tag of a saved child network (`TrainingBenchmark.save_model`).
MODEL_FORMAT = "rlnas-model"


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


__all__ = [
    "MODEL_FORMAT",
    "Macro",
    "Normalized",
    "build_model",
    "count_parameters",
    "has_builder",
    "load_model",
    "parameter_count",
]


class Normalized(nn.Module):
    """A trained child with its input scaling: it takes raw images, as the dataset holds them."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def load_model(path) -> tuple[nn.Module, dict]:
    """A saved child (`rlnas search -b train:... --out DIR` writes DIR/model.pt) in eval mode, and
    what was saved with it (arch, space, settings, metrics)."""
    from rlnas.errors import CheckpointError
    from rlnas.spaces import SPACES

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for missing, truncated or foreign files
        raise CheckpointError(f"cannot load a model from {path} ({type(exc).__name__}); give DIR/model.pt") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path} is not a model saved by rlnas")
    space = SPACES[payload["space"]]
    model = build_model(space, space.from_text(payload["arch"]), Macro(**payload["macro"]))
    model.load_state_dict(payload["weights"])
    wrapped = Normalized(model, payload["input_mean"], payload["input_std"]).eval()
    return wrapped, {k: v for k, v in payload.items() if k not in ("weights", "input_mean", "input_std")}
