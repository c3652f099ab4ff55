"""The `reinforce` strategy: Zoph & Le's LSTM controller trained online with REINFORCE.

The networks, the rollout (with its invalid-sample policy) and the loss are in
`rlnas.strategies.controller`; this module holds the hyperparameters and the training loop as an
ask/tell strategy, top to bottom: sample a batch, ask for every valid cell of it, and once all of
it is told, take one REINFORCE step. torch is imported only when a search starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rlnas.benchmarks import Evaluation
from rlnas.cells import Cell
from rlnas.devices import torch_threads
from rlnas.errors import RlnasError, check_finite
from rlnas.spaces import SearchSpace
from rlnas.strategies.base import Strategy


@dataclass(frozen=True)
class ReinforceConfig:
    """Every hyperparameter of the controller and its training, in one place."""

    hidden_size: int = 64
    """Width of the LSTM state, the decision embeddings and the anchor attention."""
    init_range: float = 0.1
    """Parameters start uniform in [-init_range, init_range] (Zoph & Le), so the first policy is
    close to uniform: ops equally likely, each NB101 edge with probability about 1/2."""
    learning_rate: float = 0.01
    """Adam step size."""
    batch_size: int = 10
    """Replicas M: valid architectures sampled (and queried) per update."""
    entropy_weight: float = 1e-3
    """Weight of the entropy bonus (the sum of every decision's entropy) in the loss."""
    baseline_decay: float = 0.9
    """Decay of the exponential-moving-average reward baseline, per update."""
    max_attempts: int = 10
    """Draws per replica before giving up on a valid cell; every invalid draw is penalised."""
    invalid_reward: float = 0.0
    """Reward of an invalid draw in the update (such a cell is never queried)."""
    stale_patience: int = 3
    """Batches without a new architecture before the sampling temperature starts to double."""

    def __post_init__(self) -> None:
        check_finite(self)
        if self.batch_size < 1 or self.max_attempts < 1 or self.hidden_size < 1:
            raise RlnasError("batch_size, max_attempts and hidden_size must be at least 1")
        if not 0 <= self.baseline_decay < 1:
            raise RlnasError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
        for name in ("learning_rate", "init_range"):
            if not 0 < getattr(self, name) <= 1:
                raise RlnasError(f"reinforce setting {name} must be in (0, 1], got {getattr(self, name)}")
        if self.entropy_weight < 0 or self.stale_patience < 0:
            raise RlnasError("reinforce settings entropy_weight and stale_patience cannot be negative")


# ---------------------------------------------------------------------------- the strategy


@dataclass
class Reinforce(Strategy):
    """Zoph & Le's controller trained online with REINFORCE within the query budget.

    After a run, `stats` holds one dict per update (mean valid reward, draws, invalid draws, new
    cells, baseline, entropy, temperature).
    """

    config: ReinforceConfig = field(default_factory=ReinforceConfig)
    stats: list[dict] = field(default_factory=list, init=False, repr=False)
    name = "reinforce"

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        try:
            import torch

            from rlnas.strategies import controller as algorithm
        except ModuleNotFoundError as exc:
            raise RlnasError("the reinforce strategy needs PyTorch: pip install torch") from exc
        super().start(space, rng)
        cfg = self.config
        self._torch, self._algorithm = torch, algorithm
        self.controller = algorithm.make_controller(space, cfg.hidden_size, cfg.init_range, int(rng.integers(2**63)))
        self.generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=cfg.learning_rate)
        self.baseline: float | None = None
        self.temperature, self.stale = 1.0, 0
        self.stats = []
        self.unique_told = 0  # new architectures told so far: the run's unique queries
        self._rollout = None

    def ask(self) -> Cell | None:
        if self._rollout is None or self._told == len(self._asked):
            with torch_threads(1):  # the same run on any machine, and fastest for a network this small
                if self._rollout is not None:
                    self._update()
                # 1. Rollout: M replicas, invalid draws redrawn (and kept for the update).
                self._rollout = self._algorithm.sample_rollout(
                    self.controller, self.space, self.config.batch_size, self.config.max_attempts,
                    self.generator, self.temperature,
                )  # fmt: skip
            self._rewards = [self.config.invalid_reward] * len(self._rollout.cells)
            self._asked = [k for k, cell in enumerate(self._rollout.cells) if cell is not None]
            self._next = self._told = self._new_cells = 0
        # 2. Evaluation: every valid cell is asked for, the whole batch at once.
        if self._next == len(self._asked):
            return None
        cell = self._rollout.cells[self._asked[self._next]]
        self._next += 1
        return cell

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        k = next(k for k in self._asked if self._rollout.cells[k] is cell)
        self._rewards[k] = result.score
        self._told += 1
        self._new_cells += int(new)
        self.unique_told += int(new)

    def _update(self) -> None:
        """3. REINFORCE with a moving-average baseline and an entropy bonus, then the progress guard."""
        cfg, torch = self.config, self._torch
        valid = [self._rewards[k] for k in self._asked]
        if self.baseline is None and valid:
            self.baseline = float(np.mean(valid))
        reference = self.baseline if self.baseline is not None else cfg.invalid_reward
        advantages = torch.tensor(self._rewards, dtype=torch.float32) - reference
        loss, entropy = self._algorithm.reinforce_loss(
            self.controller, self._rollout.decisions, advantages, cfg.entropy_weight, self.temperature
        )
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if valid:
            self.baseline = cfg.baseline_decay * reference + (1 - cfg.baseline_decay) * float(np.mean(valid))
        self.stats.append(
            {
                "queries": self.unique_told,
                "mean_reward": float(np.mean(valid)) if valid else float("nan"),
                "draws": len(self._rewards),
                "invalid": len(self._rewards) - len(valid),
                "new_cells": self._new_cells,
                "baseline": reference,
                "entropy": float(entropy.mean()),
                "temperature": self.temperature,
            }
        )
        # 4. Progress guard: a controller stuck on known cells samples at a rising temperature.
        self.stale = 0 if self._new_cells else self.stale + 1
        # capped at 2 ** 10: logits / 1024 are already practically uniform (and 2.0 ** n overflows past 1023)
        hot = self.stale - cfg.stale_patience + 1
        self.temperature = 1.0 if hot <= 0 else 2.0 ** min(hot, 10)
