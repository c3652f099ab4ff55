"""ENAS (Pham et al. 2018) on the NB201 space: shared weights and the controller trained in alternation.

The algorithm, top to bottom:

1. **Data.** The training benchmark's splits (`ImageDataset.splits(split_seed)`: the first
   `train_images` training and `eval_images` validation images), normalised by the training
   images' per-channel mean and std, as `rlnas.benchmarks.training.train_child` does: the supernet
   and stand-alone children see the same data.
2. **Each epoch** (`ENASSearch.train`):
   a. *Shared weights* (`train_shared`): one pass over the training images in minibatches; for each
      minibatch the controller samples one child, and one SGD step (Nesterov momentum, a cosine
      learning rate over the whole run, the gradient norm clipped) trains the modules it selects.
   b. *Controller* (`train_controller`): `controller_steps` REINFORCE steps on the validation
      split. A step samples `controller_batch` children; a child's reward is its accuracy with the
      shared weights on the step's validation minibatch (the same minibatch for all children of a
      step, the next one at the next step); advantage = reward - baseline, where the baseline is an
      exponential moving average of the mean reward (initialised to the first step's); loss and
      sampling are `rlnas.strategies.controller`'s (`ChoiceController`, `sample_rollout`,
      `reinforce_loss`); one Adam step.
3. **Derivation** (`derive`): `derive_samples` children sampled from the trained controller, each
   scored on the validation images with the shared weights; the best is the derived architecture,
   which `run_enas` retrains from scratch with the training benchmark's `train_child`. The test
   split is only reported.

Randomness comes from the run's numpy generator: the supernet's initial weights (drawn inside
`torch.random.fork_rng`), the controller's (`make_controller`), a `torch.Generator` for every
controller sample, and numpy generators for the orders of the images. Torch's global state is left
as it was, and on the CPU a seed gives the same run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rlnas.benchmarks.training import input_statistics, train_child
from rlnas.datasets import ImageDataset, load_dataset
from rlnas.devices import resolve_device, torch_threads
from rlnas.enas.config import ENASConfig
from rlnas.enas.supernet import Arch, Supernet
from rlnas.errors import CheckpointError, ConfigError, DataError
from rlnas.files import atomic_torch_save, load_versioned
from rlnas.predictors.base import kendall_tau
from rlnas.spaces import NB201_SPACE
from rlnas.spaces.nb201 import nb201_cell_to_string, nb201_string_to_cell
from rlnas.strategies.controller import ChoiceController, make_controller, reinforce_loss, sample_rollout

#: Images per forward pass when a child is scored on a whole split.
EVAL_BATCH = 500
#: The networks halve the resolution twice.
MIN_IMAGE_SIDE = 4
#: The format of a run's checkpoint (`rlnas enas --out DIR`: DIR/checkpoint.pt), a full pickle with generator
#: states: load only your own runs.
CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "rlnas-enas-checkpoint", 1
FRESH_START = "delete it, or give another --out, to start again"


def check_run(data: ImageDataset, config: ENASConfig, rank: int = 0) -> None:
    """Every check of a run that needs no training, so that a command fails before it writes anything."""
    check_data(data)
    resolve_device(config.device)
    if rank:
        check_rank(rank)


def check_data(data: ImageDataset) -> None:
    side = min(data.image_shape[1:])
    if side < MIN_IMAGE_SIDE:
        raise DataError(
            f"{data.name} has {side}-pixel sides; the NB201 skeleton halves the resolution twice, so give images "
            f"of at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
        )


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**63))


class ENASSearch:
    """One ENAS run: the supernet, the controller, their optimisers and random streams."""

    def __init__(self, data: ImageDataset, config: ENASConfig, rng: np.random.Generator):
        check_data(data)
        self.config = config
        self.device = torch.device(resolve_device(config.device))
        train, validation, _ = data.splits(config.split_seed)
        train, validation = train[: config.train_images], validation[: config.eval_images]
        mean, std = input_statistics(data, config.training_settings(config.epochs, seed=0))  # the seed plays no part

        def tensors(indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = (data.x[indices].astype(np.float32) - mean) / std
            return torch.from_numpy(x).to(self.device), torch.from_numpy(data.y[indices]).to(self.device)

        self.x_train, self.y_train = tensors(train)
        self.x_valid, self.y_valid = tensors(validation)

        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(_seed(rng))
            self.supernet = Supernet(config.width, config.depth, data.image_shape[0], data.num_classes)
        self.supernet.to(self.device)
        controller = make_controller(NB201_SPACE, config.controller_hidden, config.controller_init_range, _seed(rng))
        assert isinstance(controller, ChoiceController)
        self.controller = controller
        self.generator = torch.Generator().manual_seed(_seed(rng))
        self.train_order = np.random.default_rng(_seed(rng))
        self.reward_order = np.random.default_rng(_seed(rng))
        self.optimizer = torch.optim.SGD(
            self.supernet.parameters(),
            lr=config.learning_rate,
            momentum=config.momentum,
            nesterov=True,
            weight_decay=config.weight_decay,
        )
        self.controller_optimizer = torch.optim.Adam(self.controller.parameters(), lr=config.controller_learning_rate)
        self.steps_per_epoch = math.ceil(len(self.y_train) / config.batch_size)
        self.step = 0
        self.baseline: float | None = None
        self._reward_batches: list[np.ndarray] = []
        #: One dict of statistics per epoch trained, the seconds and CPU seconds they took.
        self.history: list[dict] = []
        self.seconds = self.cpu_seconds = 0.0

    def state_dict(self) -> dict:
        """All that the epochs still to come depend on: weights, optimisers, random streams, the learning-rate
        step, the baseline, the reward minibatches left of this pass, and the epochs so far."""
        return {
            "supernet": self.supernet.state_dict(),
            "controller": self.controller.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "controller_optimizer": self.controller_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "train_order": self.train_order.bit_generator.state,
            "reward_order": self.reward_order.bit_generator.state,
            "step": self.step,
            "baseline": self.baseline,
            "reward_batches": list(self._reward_batches),
            "history": list(self.history),
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
        }

    def load_state_dict(self, state: dict) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.controller_optimizer.load_state_dict(state["controller_optimizer"])
        self.generator.set_state(state["generator"])
        self.train_order.bit_generator.state = state["train_order"]
        self.reward_order.bit_generator.state = state["reward_order"]
        self.step, self.baseline = state["step"], state["baseline"]
        self._reward_batches = list(state["reward_batches"])
        self.history = list(state["history"])
        self.seconds, self.cpu_seconds = state["seconds"], state["cpu_seconds"]

    def sample(self, n: int) -> list[tuple[int, ...]]:
        """n children from the controller's current policy."""
        rollout = sample_rollout(self.controller, NB201_SPACE, n, 1, self.generator)
        return [tuple(row) for row in rollout.decisions.tolist()]

    def train_shared(self) -> dict[str, float]:
        """2a. One pass over the training images, each minibatch through a child the controller samples."""
        cfg = self.config
        total = cfg.epochs * self.steps_per_epoch
        children = self.sample(self.steps_per_epoch)
        permutation = torch.from_numpy(self.train_order.permutation(len(self.y_train))).to(self.device)
        self.supernet.train()
        loss_sum = correct = seen = 0
        for batch, arch in zip(permutation.split(cfg.batch_size), children, strict=True):
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * min(self.step, total) / total))
            self.step += 1
            if len(batch) < 2:  # batch norm cannot train on one image
                continue
            logits = self.supernet(self.x_train[batch], arch)
            loss = F.cross_entropy(logits, self.y_train[batch])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), cfg.grad_clip)
            self.optimizer.step()
            loss_sum += float(loss.detach()) * len(batch)
            correct += int((logits.detach().argmax(1) == self.y_train[batch]).sum())
            seen += len(batch)
        return {"train_loss": loss_sum / seen, "train_accuracy": correct / seen}

    def _reward_batch(self) -> torch.Tensor:
        """The next validation minibatch for rewards: the validation images in a fresh order each pass."""
        if not self._reward_batches:
            order = self.reward_order.permutation(len(self.y_valid))
            size = min(self.config.reward_images, len(order))
            self._reward_batches = [order[k : k + size] for k in range(0, len(order) - size + 1, size)][::-1]
        return torch.from_numpy(self._reward_batches.pop()).to(self.device)

    def train_controller(self) -> dict[str, float]:
        """2b. `controller_steps` REINFORCE steps, rewards = shared-weight accuracy on validation minibatches."""
        cfg = self.config
        rewards_seen, entropies = [], []
        self.supernet.eval()
        for _ in range(cfg.controller_steps):
            rollout = sample_rollout(self.controller, NB201_SPACE, cfg.controller_batch, 1, self.generator)
            batch = self._reward_batch()
            x, y = self.x_valid[batch], self.y_valid[batch]
            with torch.inference_mode():
                rewards = [
                    float((self.supernet(x, arch).argmax(1) == y).float().mean()) for arch in rollout.decisions.tolist()
                ]
            mean_reward = float(np.mean(rewards))
            if self.baseline is None:
                self.baseline = mean_reward
            advantages = torch.tensor(rewards, dtype=torch.float32) - self.baseline
            loss, entropy = reinforce_loss(self.controller, rollout.decisions, advantages, cfg.entropy_weight)
            self.controller_optimizer.zero_grad()
            loss.backward()
            self.controller_optimizer.step()
            self.baseline = cfg.baseline_decay * self.baseline + (1 - cfg.baseline_decay) * mean_reward
            rewards_seen.append(mean_reward)
            entropies.append(float(entropy.mean()))
        return {"mean_reward": float(np.mean(rewards_seen)), "baseline": self.baseline, "entropy": entropies[-1]}

    def train(self, on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
        """2. The alternations of the shared weights and the controller still to run, up to `epochs`;
        `history`, one dict of statistics per epoch. `on_epoch(stats)` follows each (a checkpoint, progress)."""
        for epoch in range(len(self.history) + 1, self.config.epochs + 1):
            start, start_cpu = time.perf_counter(), time.thread_time()
            stats = {"epoch": epoch, **self.train_shared(), **self.train_controller()}
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.thread_time() - start_cpu
            self.history.append(stats)
            if on_epoch is not None:
                on_epoch(stats)
        return self.history

    def accuracy(self, arch: Arch) -> float:
        """The child's accuracy on the validation images with the shared weights (batch statistics)."""
        self.supernet.eval()
        with torch.inference_mode():
            correct = sum(
                int((self.supernet(xb, arch).argmax(1) == yb).sum())
                for xb, yb in zip(self.x_valid.split(EVAL_BATCH), self.y_valid.split(EVAL_BATCH), strict=True)
            )
        return correct / len(self.y_valid)

    def derive(self) -> list[dict]:
        """3. The distinct children among `derive_samples` draws, best first by shared-weight validation accuracy."""
        candidates = list(dict.fromkeys(self.sample(self.config.derive_samples)))
        scored = [{"arch": _arch_text(arch), "shared_accuracy": self.accuracy(arch)} for arch in candidates]
        return sorted(scored, key=lambda c: -c["shared_accuracy"])  # stable: ties keep the order of sampling


def _arch_text(arch: Arch) -> str:
    return "".join(str(int(k)) for k in arch)


def describe(arch: str) -> dict:
    """The derived architecture as rlnas writes it: 6 op indices, op names and the official NB201 string."""
    cell = nb201_string_to_cell(arch)
    return {"space": NB201_SPACE.name, **NB201_SPACE.describe(cell), "nb201": NB201_SPACE.to_text(cell)}


def run_identity(data: ImageDataset, config: ENASConfig, seed: int, rank: int) -> dict:
    """What a checkpoint must match to be resumed: the data (by content), the seed, the ranking study's size (its
    children's training seed depends on it) and every setting but the device (a run may move to a GPU)."""
    settings = dataclasses.asdict(config)
    del settings["device"]
    return {"dataset": data.name, "data_digest": data.digest, "seed": seed, "rank": rank, "config": settings}


def read_checkpoint(path: Path, identity: dict) -> dict | None:
    """The state saved at `path` (None when there is none yet); a ConfigError names what differs from `identity`."""
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} is not a file; remove it, or give another --out")
    if not path.is_file():
        return None
    state = load_versioned(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "ENAS checkpoint", False, FRESH_START)
    saved = state["identity"]
    if saved != identity:
        options = {"dataset": "--dataset", "data_digest": "dataset content", "seed": "--seed", "rank": "--rank"}
        differ = [(name, saved[key], identity[key]) for key, name in options.items() if saved[key] != identity[key]]
        settings = identity["config"]
        differ += [
            (f"--{k.replace('_', '-')}", saved["config"].get(k), v)
            for k, v in settings.items()
            if saved["config"].get(k) != v
        ]
        details = ", ".join(f"{name} {new} (the run's: {old})" for name, old, new in differ)
        raise ConfigError(f"{path} is another run: {details}; give its options to resume it, or another --out")
    return state


def run_enas(
    dataset: str | ImageDataset,
    config: ENASConfig,
    seed: int,
    rank: int = 0,
    on_epoch: Callable[[dict], None] | None = None,
    on_child: Callable[[int, dict], None] | None = None,
    checkpoint: str | Path | None = None,
) -> dict:
    """The whole ENAS run as a JSON-ready summary; with `rank` > 0 also the ranking study.

    Ranking: `rank` distinct architectures drawn uniformly from the NB201 space, each scored by the
    trained supernet (validation accuracy with the shared weights) and trained alone from scratch for
    `config.epochs` epochs on the same data (`train_child`, one seed for all); Kendall's tau between
    the two validation accuracies, and the wall and CPU seconds of both. `on_child(k, metrics)`
    follows the stand-alone children.

    With a `checkpoint` path, the run is saved there after every epoch, the retrained child and every
    ranked child, and a run found there (of the same data, seed, rank and settings) resumes where it stopped:
    on the CPU, with the result an uninterrupted run gives.
    """
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    check_run(data, config, rank)
    identity = run_identity(data, config, seed, rank)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    saved = read_checkpoint(checkpoint, identity) if checkpoint is not None else None
    rng = np.random.default_rng(seed)
    search_seed, rank_seed, retrain_seed = _seed(rng), _seed(rng), int(rng.integers(2**31))
    # what the steps after the training have finished: the retrained child, the children ranked so far
    progress = {"retrained": (saved or {}).get("retrained"), "ranked": list((saved or {}).get("ranked", []))}

    def save(search_state: dict) -> None:
        if checkpoint is not None:
            payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "identity": identity}
            atomic_torch_save({**progress, **payload, "search": search_state}, checkpoint)

    def after_epoch(stats: dict) -> None:
        save(search.state_dict())
        if on_epoch is not None:
            on_epoch(stats)

    with torch_threads(1):
        search = ENASSearch(data, config, np.random.default_rng(search_seed))
        if saved is not None:
            search.load_state_dict(saved["search"])
        history = search.train(after_epoch)
        trained = search.state_dict()  # before the derivation draws from the controller's generator
        candidates = search.derive()
    best = candidates[0]["arch"]
    summary: dict = {
        "dataset": data.name,
        "seed": seed,
        "config": dataclasses.asdict(config),
        "images": {"train": len(search.y_train), "validation": len(search.y_valid)},  # at most the config's
        "supernet": {
            "parameters": sum(p.numel() for p in search.supernet.parameters()),
            "training_seconds": search.seconds,
            "training_cpu_seconds": search.cpu_seconds,
            "epochs": history,
        },
        "derived": {**describe(best), "shared_accuracy": candidates[0]["shared_accuracy"], "candidates": candidates},
    }
    if config.retrain_epochs:
        if progress["retrained"] is None:
            settings = config.training_settings(config.retrain_epochs, retrain_seed)
            _, metrics = train_child(NB201_SPACE, nb201_string_to_cell(best), data, settings)
            progress["retrained"] = {"epochs": config.retrain_epochs, **metrics}
            save(trained)
        summary["retrained"] = progress["retrained"]
    if rank:

        def ranked(k: int, child: dict) -> None:
            progress["ranked"].append(child)
            save(trained)
            if on_child is not None:
                on_child(k, child)

        done = list(progress["ranked"])
        summary["ranking"] = rank_children(search, data, rank, np.random.default_rng(rank_seed), ranked, done)
        summary["ranking"]["supernet_seconds"] = search.seconds
        summary["ranking"]["supernet_cpu_seconds"] = search.cpu_seconds
    return summary


def check_rank(n: int) -> None:
    """A ranking study compares at least two architectures and at most the whole NB201 space."""
    if not 2 <= n <= 15_625:
        raise ConfigError(f"rank 2 to 15625 architectures (the NB201 space), not {n}; or 0 for no ranking")


def rank_children(
    search: ENASSearch,
    data: ImageDataset,
    n: int,
    rng: np.random.Generator,
    on_child: Callable[[int, dict], None] | None = None,
    done: Sequence[dict] = (),
) -> dict:
    """The supernet's ranking of n uniformly drawn distinct architectures against their stand-alone training;
    `done`: the first children's results, from an earlier run of the same study (a checkpoint)."""
    check_rank(n)
    archs: list[str] = []
    while len(archs) < n:
        arch = nb201_cell_to_string(NB201_SPACE.sample(rng))
        if arch not in archs:
            archs.append(arch)
    if [child["arch"] for child in done] != archs[: len(done)]:
        raise CheckpointError("the ranked children saved are not this study's first draws; start the run again")
    settings = search.config.training_settings(search.config.epochs, int(rng.integers(2**31)))
    children = list(done)
    with torch_threads(1):
        for k, arch in enumerate(archs[len(done) :], start=len(done)):
            start, start_cpu = time.perf_counter(), time.thread_time()
            shared = search.accuracy(tuple(int(c) for c in arch))
            timing = {"shared_seconds": time.perf_counter() - start}
            timing["shared_cpu_seconds"] = time.thread_time() - start_cpu
            _, metrics = train_child(NB201_SPACE, nb201_string_to_cell(arch), data, settings)
            child = {"arch": arch, "shared_accuracy": shared, **timing, **metrics}
            children.append(child)
            if on_child is not None:
                on_child(k, child)
    shared = [c["shared_accuracy"] for c in children]
    alone = [c["validation_accuracy"] for c in children]
    order = np.argsort(alone)[::-1]
    return {
        "children": children,
        "kendall_tau": kendall_tau(shared, alone),
        "spearman": _spearman(shared, alone),
        "best_alone": children[int(order[0])]["arch"],
        "rank_by_supernet_of_best_alone": 1 + int(np.sum(np.array(shared) > shared[int(order[0])])),
        "shared_scoring_seconds": float(sum(c["shared_seconds"] for c in children)),
        "shared_scoring_cpu_seconds": float(sum(c["shared_cpu_seconds"] for c in children)),
        "standalone_seconds": float(sum(c["training_time"] for c in children)),
        "standalone_cpu_seconds": float(sum(c["cpu_time"] for c in children)),
    }


def _spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rho: Pearson's correlation of the average ranks."""

    def ranks(v: list[float]) -> np.ndarray:
        a = np.asarray(v)
        return np.array([np.sum(a < e) + (np.sum(a == e) + 1) / 2 for e in a])

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])
