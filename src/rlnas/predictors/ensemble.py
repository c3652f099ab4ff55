"""Deep ensembles trained as one batched model, and the fit/predict loop shared by every predictor.

The k members of an ensemble are stacked along a leading dimension of every weight (shape
(k, ...)), so one forward pass trains or evaluates all of them; the loss is the sum of the
members' losses and Adam works element-wise, so each member trains as if alone. Members differ
by their initialisation and by their minibatch order (Lakshminarayanan et al. 2017; BANANAS uses
an ensemble of 5 the same way). The ensemble's mean is the prediction, its standard deviation the
uncertainty.

Determinism without global state: every random draw (initial weights, minibatch orders) comes
from a `torch.Generator` seeded from the caller's numpy generator; torch's global generator is
never used, and torch's thread count is changed only inside a fit or prediction, when the
settings ask for it, and restored.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rlnas.cells import Arch, Cell
from rlnas.devices import torch_threads
from rlnas.errors import RlnasError
from rlnas.predictors.config import EnsembleConfig


class EnsembleLinear(nn.Module):
    """k independent affine maps applied to inputs of shape (k, batch, in_features)."""

    def __init__(self, k: int, in_features: int, out_features: int, generator: torch.Generator):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # torch's default Linear initialisation range
        self.weight = nn.Parameter((torch.rand(k, in_features, out_features, generator=generator) * 2 - 1) * bound)
        self.bias = nn.Parameter((torch.rand(k, 1, out_features, generator=generator) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def ensemble_mlp(
    k: int, in_features: int, hidden: int, num_hidden_layers: int, out_features: int, generator: torch.Generator
) -> nn.Sequential:
    sizes = [in_features] + [hidden] * num_hidden_layers
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [EnsembleLinear(k, a, b, generator), nn.ReLU()]
    layers.append(EnsembleLinear(k, sizes[-1], out_features, generator))
    return nn.Sequential(*layers)


class EnsemblePredictor(ABC):
    """Fit and predict for an ensemble model over cell inputs; subclasses encode cells and build the model.

    The model maps the member-stacked inputs (each of shape (k, batch, ...)) to predictions of
    shape (k, batch). Scores are standardised by the mean and standard deviation of a fit's scores.
    """

    config: EnsembleConfig

    def __init__(self, config: EnsembleConfig):
        self.config = config
        self.model: nn.Module | None = None
        self.num_cells = 1  # cells per architecture, set by fit
        self._shift, self._scale = 0.0, 1.0

    def _check_cells(self, cells: Sequence[Cell | Arch]) -> None:
        if any((len(c.cells) if isinstance(c, Arch) else 1) != self.num_cells for c in cells):
            raise RlnasError(f"every architecture must have {self.num_cells} cells, like those the predictor fitted")

    @abstractmethod
    def encode(self, cells: Sequence[Cell | Arch], fitting: bool) -> tuple[torch.Tensor, ...]:
        """Tensors of shape (len(cells), ...) for the model; `fitting` may rebuild a data-dependent encoding."""

    @abstractmethod
    def build(self, generator: torch.Generator) -> nn.Module:
        """A freshly initialised ensemble model for the encoding of the last fit."""

    def fit(self, cells: Sequence[Cell | Arch], scores: Sequence[float], rng: np.random.Generator) -> None:
        config, k = self.config, self.config.ensemble_size
        y = np.asarray(scores, dtype=np.float64)
        if len(cells) != len(y) or len(y) < 2:
            raise RlnasError(f"a predictor needs at least 2 scored cells to fit, got {len(cells)} cells")
        self.num_cells = len(cells[0].cells) if isinstance(cells[0], Arch) else 1
        self._check_cells(cells)
        self._shift, self._scale = float(y.mean()), float(y.std()) or 1.0
        generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        with torch_threads(config.num_threads):
            inputs = self.encode(cells, fitting=True)
            target = torch.as_tensor((y - self._shift) / self._scale, dtype=torch.float32)
            model = self.build(generator)
            optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
            loss_fn = nn.functional.l1_loss if config.loss == "mae" else nn.functional.mse_loss
            n, batch = len(y), min(config.batch_size, len(y))
            for _ in range(config.epochs):
                order = torch.argsort(torch.rand(k, n, generator=generator), dim=1)
                for start in range(0, n - batch + 1, batch):  # whole batches only: no tiny last step
                    index = order[:, start : start + batch]
                    prediction = model(*(x[index] for x in inputs))
                    loss = loss_fn(prediction, target[index], reduction="none").mean(dim=1).sum()
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
        self.model = model.eval()

    def predict(self, cells: Sequence[Cell | Arch]) -> tuple[np.ndarray, np.ndarray]:
        if self.model is None:
            raise RlnasError("the predictor has not been fitted; call fit() with queried cells first")
        self._check_cells(cells)
        k = self.config.ensemble_size
        with torch_threads(self.config.num_threads), torch.no_grad():
            inputs = self.encode(cells, fitting=False)
            members = self.model(*(x.unsqueeze(0).expand(k, *x.shape) for x in inputs)).double().numpy()
        members = members * self._scale + self._shift
        return members.mean(axis=0), members.std(axis=0)
