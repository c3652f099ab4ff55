"""Every hyperparameter of an ENAS run, in one dataclass. `rlnas enas` turns every field into an option with
its docstring as help (`rlnas.config_options`), so this module needs no PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlnas.benchmarks.training import TrainingSettings
from rlnas.devices import check_device
from rlnas.errors import ConfigError, check_finite


@dataclass(frozen=True)
class ENASConfig:
    """Every hyperparameter of an ENAS run, in one place."""

    epochs: int = 10
    """Alternations: each is one pass of the shared weights over the training images, then the controller's steps."""
    width: int = 8
    """Channels after the stem of the NB201 skeleton (published: 16), doubled at each downsampling."""
    depth: int = 1
    """Cells per stage of the NB201 skeleton (published: 5)."""
    batch_size: int = 64
    """Training images per SGD step of the shared weights (and of the retrained child)."""
    learning_rate: float = 0.05
    """Initial SGD step size of the shared weights, annealed to zero along a cosine over all epochs."""
    momentum: float = 0.9
    """Nesterov momentum of SGD."""
    weight_decay: float = 5e-4
    """L2 penalty on every shared weight."""
    grad_clip: float = 5.0
    """The shared weights' gradient norm is clipped to this (ENAS: 5)."""
    train_images: int | None = 5000
    """Train on this many images of the training split (a fixed random subset); None: all of them."""
    eval_images: int | None = 2000
    """Validation images that score children (rewards are drawn from them) and test images reported; None: all."""
    split_seed: int = 0
    """Seeds the train/validation/test split of the dataset (see `rlnas.datasets`)."""
    controller_hidden: int = 64
    """Width of the controller's LSTM and op embeddings."""
    controller_init_range: float = 0.1
    """The controller's parameters start uniform in [-r, r], so its first policy is nearly uniform."""
    controller_learning_rate: float = 3.5e-4
    """Adam step size of the controller (ENAS's). Faster rates let the policy collapse onto cells of
    parameter-free ops within a few epochs, which a young supernet scores best (docs/enas.md)."""
    controller_steps: int = 20
    """REINFORCE steps of the controller per epoch."""
    controller_batch: int = 5
    """Children sampled (and rewarded) per controller step."""
    reward_images: int = 128
    """Validation images in the minibatch a controller step scores its children on (ENAS: one minibatch)."""
    entropy_weight: float = 1e-3
    """Weight of the entropy bonus in the controller's loss."""
    baseline_decay: float = 0.9
    """Decay of the moving-average reward baseline, per controller step (ENAS: 0.99 over many more steps)."""
    derive_samples: int = 20
    """Children sampled from the trained controller at the end; the best by shared-weight validation accuracy wins."""
    retrain_epochs: int = 10
    """Epochs of the derived architecture's training from scratch (0: do not retrain)."""
    device: str = "cpu"
    """'cpu', 'auto' (a GPU when torch sees one), 'cuda' or 'cuda:N'; runs repeat bit for bit on the CPU only."""

    def __post_init__(self) -> None:
        check_finite(self)
        positive = ("epochs", "width", "depth", "controller_hidden", "controller_steps", "controller_batch")
        for name in (*positive, "derive_samples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2 or self.reward_images < 2:
            raise ConfigError("batch_size and reward_images must be at least 2 (batch norm needs two images)")
        if self.retrain_epochs < 0:
            raise ConfigError(f"retrain_epochs must be 0 or more, got {self.retrain_epochs}")
        if (self.train_images is not None and self.train_images < 2) or (
            self.eval_images is not None and self.eval_images < 2
        ):
            raise ConfigError(
                "train_images and eval_images must be at least 2, or None for all images (0 on the command line)"
            )
        rates = (self.learning_rate, self.controller_learning_rate, self.grad_clip)
        if not all(r > 0 for r in rates) or not 0 <= self.momentum < 1 or not self.weight_decay >= 0:
            raise ConfigError("need learning rates > 0, grad_clip > 0, 0 <= momentum < 1 and weight_decay >= 0")
        if not 0 <= self.baseline_decay < 1 or self.entropy_weight < 0:
            raise ConfigError("need 0 <= baseline_decay < 1 and entropy_weight >= 0")
        if self.split_seed < 0 or not self.controller_init_range > 0:
            raise ConfigError(
                f"need split_seed >= 0 and controller_init_range > 0, got {self.split_seed} and "
                f"{self.controller_init_range}"
            )
        check_device(self.device, "device")

    def training_settings(self, epochs: int, seed: int) -> TrainingSettings:
        """How a child is trained alone on the same data and skeleton: the derived one, or the ranking's children."""
        return TrainingSettings(
            epochs=epochs,
            width=self.width,
            depth=self.depth,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            seed=seed,
            split_seed=self.split_seed,
            train_images=self.train_images,
            eval_images=self.eval_images,
            device=self.device,
        )
