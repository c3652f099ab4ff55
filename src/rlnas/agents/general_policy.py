"""A general policy: the one-network-for-every-space Q-network with the episode rules it was trained under
and the tasks it was trained on (what `learned:NAME` loads; the evaluation labels those tasks as seen).

The file holds only tensors and plain values (it loads with `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from rlnas.agents.general_qnetwork import GeneralQNetwork, GeneralQNetworkConfig, q_values
from rlnas.agents.policy import GENERAL_POLICY_FORMAT, HOW_TO_RUN, POLICY_FILE, SHIPPED_POLICIES
from rlnas.env.search_episode import EpisodeConfig
from rlnas.errors import CheckpointError
from rlnas.files import atomic_torch_save, load_versioned

#: 2: elites carry the fraction of their neighbourhood the run has queried (a fifth elite field).
GENERAL_POLICY_VERSION = 2
#: How `learned:NAME[:EDITS]` picks an edit once the network has chosen to edit: its greedy edit, a
#: uniformly drawn valid one, or one drawn by a score model of the run's results (`rlnas.env.edit_guide`).
EDIT_CHOICES = ("greedy", "uniform", "guided")


@dataclass
class GeneralPolicy:
    """A Q-network for search episodes, greedy on its masked Q-values."""

    network: GeneralQNetwork
    episode: EpisodeConfig
    trained_on: list[dict] = field(default_factory=list)
    """The training tasks: {"benchmark": name, "budget": [low, high]} each."""
    source: str = "an in-memory policy"
    info: dict = field(default_factory=dict)
    """Anything else the training recorded (its seed, steps, wall time)."""

    def __post_init__(self) -> None:
        self.network.eval()
        sizes = GeneralQNetworkConfig.for_episodes(self.episode)
        c = self.network.config
        if (c.max_vertices, c.num_elites, c.recent_edits, c.op_slots) != (
            sizes.max_vertices,
            sizes.num_elites,
            sizes.recent_edits,
            sizes.op_slots,
        ):
            raise CheckpointError(f"{self.source}: its network does not fit its episode sizes; train it again")

    def q_values(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return q_values(self.network, obs)

    def act(self, obs: dict[str, np.ndarray], edit_rng: np.random.Generator | None = None) -> int:
        """The greedy valid action. With `edit_rng` (`EDIT_CHOICES` "uniform") the network chooses only the
        kind of move, a fresh sample, a return to elite k or an edit of the current cell; an edit is then
        drawn uniformly among the valid ones (docs/general.md: the edits the network prefers are worse)."""
        action = int(self.q_values(obs).argmax())
        first = self.episode.first_edit
        if edit_rng is None or action < first:
            return action
        return first + int(edit_rng.choice(np.flatnonzero(obs["action_mask"][first:])))

    @property
    def max_training_budget(self) -> int:
        return max((int(t["budget"][1]) for t in self.trained_on), default=200)

    def save(self, path: str | Path) -> None:
        payload = {
            "format": GENERAL_POLICY_FORMAT,
            "version": GENERAL_POLICY_VERSION,
            "network": self.network.config.to_dict(),
            "weights": {k: v.detach().to("cpu", copy=True) for k, v in self.network.state_dict().items()},
            "episode": asdict(self.episode),
            "trained_on": self.trained_on,
            "info": self.info,
            "weights_sha256": self.fingerprint,  # checked at load: bytes changed inside the file are caught
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(payload, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> GeneralPolicy:
        """Load a policy file, a training folder holding one, or a shipped general policy by name."""
        path = Path(path)
        if not path.exists() and (SHIPPED_POLICIES / f"{path}.pt").is_file():
            path = SHIPPED_POLICIES / f"{path}.pt"
        if path.is_dir():
            path = path / POLICY_FILE
        if not path.is_file():
            raise CheckpointError(
                f"no general policy at {path}; give a policy file, a training folder (rlnas train --tasks) "
                "or a shipped policy's name"
            )
        payload = load_versioned(
            path, GENERAL_POLICY_FORMAT, GENERAL_POLICY_VERSION, "general policy", True, "train it again", HOW_TO_RUN
        )
        try:
            with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave torch's generator
                network = GeneralQNetwork(GeneralQNetworkConfig(**payload["network"]))
            network.load_state_dict(payload["weights"])
            episode = EpisodeConfig(**payload["episode"])
            policy = cls(network, episode, list(payload["trained_on"]), str(path), dict(payload["info"]))
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{path} is an incomplete or mismatched general policy file ({exc})") from exc
        if payload.get("weights_sha256", policy.fingerprint) != policy.fingerprint:  # files before it: unchecked
            raise CheckpointError(f"{path} is corrupt: its weights do not match their stored checksum; copy it again")
        return policy

    @property
    def fingerprint(self) -> str:
        """A hash of the weights (a resumed comparison must use the same policy)."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.network.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return digest.hexdigest()


def random_policy(episode: EpisodeConfig, seed: int, **network_overrides) -> GeneralPolicy:
    """An untrained policy with weights drawn from `seed` (tests, and the before-training baseline)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = GeneralQNetwork(GeneralQNetworkConfig.for_episodes(episode, **network_overrides))
    return GeneralPolicy(network, episode, source=f"random policy (seed {seed})")
