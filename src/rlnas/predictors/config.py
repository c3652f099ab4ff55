"""The settings of the predictors, one dataclass each; importing this module does not import torch."""

from __future__ import annotations

from dataclasses import dataclass

from rlnas.errors import ConfigError, check_finite

LOSSES = ("mae", "mse")


@dataclass(frozen=True)
class EnsembleConfig:
    """What every ensemble predictor shares: the ensemble, its training and its cost."""

    ensemble_size: int = 5
    """Members trained from different initialisations (and minibatch orders); their spread is the uncertainty."""
    epochs: int = 100
    """Passes over the queried cells at every fit; each fit trains from scratch."""
    batch_size: int = 32
    """Cells per gradient step (each member draws its own minibatches)."""
    learning_rate: float = 3e-3
    """Adam step size."""
    weight_decay: float = 0.0
    """Adam's L2 penalty."""
    loss: str = "mae"
    """Regression loss on the standardised scores: "mae" (BANANAS' choice; robust to the few broken cells
    whose accuracy is near chance) or "mse"."""
    hidden_size: int = 64
    """Width of the hidden layers."""
    num_threads: int | None = 1
    """Torch threads while fitting and predicting (restored afterwards): one gives the same fit on any
    machine and is the fastest for networks this small; None leaves torch's setting."""

    def __post_init__(self) -> None:
        check_finite(self)
        for name in ("ensemble_size", "epochs", "batch_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"predictor setting {name} must be at least 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("the predictor's learning_rate must be positive and its weight_decay non-negative")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown predictor loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"num_threads must be at least 1 or None, got {self.num_threads}")


@dataclass(frozen=True)
class PathConfig(EnsembleConfig):
    """An MLP ensemble over BANANAS' path encoding (`rlnas.predictors.encodings`)."""

    num_layers: int = 3
    """Hidden layers of each MLP."""
    max_features: int = 512
    """Paths kept as features: the most frequent among the cells of a fit (BANANAS' truncation)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 1 or self.max_features < 1:
            raise ConfigError("the path predictor's num_layers and max_features must be at least 1")


@dataclass(frozen=True)
class GINConfig(EnsembleConfig):
    """A graph isomorphism network ensemble over the cell's vertex tokens and its adjacency."""

    hidden_size: int = 32
    """Width of the vertex states and hidden layers (64 ranks no better and costs twice as much;
    docs/predictors.md)."""
    num_layers: int = 3
    """Message-passing rounds; each vertex hears its predecessors and its successors separately."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 1:
            raise ConfigError("the GIN predictor's num_layers must be at least 1")
