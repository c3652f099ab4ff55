"""The reusable policy: `DIR/policy.pt` of a training run, loaded for search on CPU.

The file holds only tensors and plain values (it loads with `torch.load(weights_only=True)`):
the Q-network's weights and shape, the environment settings it was trained with (horizon,
alpha, shaping, reward), and the benchmark and search space it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rlnas.agents.qnetwork import OBS_KEYS, QNetwork, QNetworkConfig, obs_to_tensors
from rlnas.errors import CheckpointError, ConfigError
from rlnas.files import load_versioned
from rlnas.spaces.layout import Edit, EditLayout

POLICY_FORMAT = "rlnas-policy"
POLICY_VERSION = 2  # 2: the edit layout the network acts in
#: The format tag of a general policy (`rlnas.agents.general_policy`), here so that either loader can say
#: what a file of the other kind is and how to run it.
GENERAL_POLICY_FORMAT = "rlnas-general-policy"
HOW_TO_RUN = {
    POLICY_FORMAT: "it is a one-benchmark policy: run it as agent:NAME",
    GENERAL_POLICY_FORMAT: "it is a general policy: run it as learned:NAME:guided",
}
POLICY_FILE = "policy.pt"
#: The checkpoints of a one-benchmark training run and of a general one; with POLICY_FILE, the files that mark
#: a folder as a training run's, so that no run of either kind starts over another.
CHECKPOINT_FILE = "checkpoint.pt"
GENERAL_CHECKPOINT = "general-checkpoint.pt"
TRAINING_RUN_FILES = (POLICY_FILE, CHECKPOINT_FILE, GENERAL_CHECKPOINT)
#: Policies shipped with rlnas (`policies/NAME.pt`, trained with `policies/NAME.toml`), loadable by NAME.
SHIPPED_POLICIES = Path(__file__).resolve().parent.parent / "policies"


def policy_payload(network: QNetwork, env_kwargs: dict, benchmark: str, space: str, **extra) -> dict:
    return {
        "format": POLICY_FORMAT,
        "version": POLICY_VERSION,
        "network": network.config.to_dict(),
        "layout": [list(edit) for edit in network.layout.edits],
        "weights": {k: v.detach().to("cpu", copy=True) for k, v in network.state_dict().items()},
        "env": dict(env_kwargs),
        "benchmark": benchmark,
        "space": space,
        **extra,
    }


def stored_layout(payload: dict) -> EditLayout:
    """The edit layout a policy file's network acts in."""
    network = payload["network"]
    edits = tuple(Edit(*map(int, edit)) for edit in payload["layout"])
    return EditLayout(edits, num_cells=1, max_vertices=network["max_vertices"], num_ops=network["num_ops"])


def holds_training_run(folder: Path) -> bool:
    """Whether `folder` holds a training run of either kind (started or finished)."""
    return any((Path(folder) / name).exists() for name in TRAINING_RUN_FILES)


class Policy:
    """A trained Q-network on CPU: masked Q-values and greedy actions for observations of the env."""

    def __init__(self, payload: dict, source: str = "policy"):
        self.network_config = QNetworkConfig(**payload["network"])
        with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave torch's generator
            self.network = QNetwork(self.network_config, stored_layout(payload))
        self.network.load_state_dict(payload["weights"])
        self.network.eval()
        self.env_config: dict = dict(payload["env"])
        self.benchmark: str = payload["benchmark"]
        self.space: str = payload["space"]
        self.info = {k: v for k, v in payload.items() if k not in ("weights", "network")}
        self.source = source

    @torch.inference_mode()
    def q_values(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Masked Q-values: (num_edits,) for one observation, (B, num_edits) for a batch; invalid = -inf."""
        single = np.ndim(obs["ops"]) == 1
        batch = {k: (np.asarray(obs[k])[None] if single else np.asarray(obs[k])) for k in OBS_KEYS}
        q = self.network(obs_to_tensors(batch)).numpy()
        return q[0] if single else q

    def act(self, obs: dict[str, np.ndarray]) -> int | np.ndarray:
        """The greedy valid action (per observation for a batch)."""
        q = self.q_values(obs)
        return int(q.argmax()) if q.ndim == 1 else q.argmax(axis=1)

    def check_space(self, space) -> None:
        """Raise CheckpointError unless `space` has the edit layout this policy was trained on."""
        if space.edit_layout.edits != self.network.layout.edits:
            raise CheckpointError(
                f"{self.source} was trained on the {self.space} space; it cannot act in the {space.name} space"
            )

    def make_env(self, benchmark, **overrides):
        """An `ArchitectureSearchEnv` on `benchmark` with the settings this policy was trained with."""
        from rlnas.env import ArchitectureSearchEnv

        self.check_space(benchmark.space)
        return ArchitectureSearchEnv(benchmark, **{**self.env_config, **overrides})


def load_policy(path: str | Path) -> Policy:
    """Load `path` (a policy.pt, a training folder holding one, or a shipped policy's name)."""
    path = Path(path)
    if not path.exists() and (SHIPPED_POLICIES / f"{path}.pt").is_file():
        path = SHIPPED_POLICIES / f"{path}.pt"
    if path.is_dir():
        path = path / POLICY_FILE
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SHIPPED_POLICIES.glob("*.pt")))
        raise CheckpointError(
            f"no policy at {path}; give a training folder (rlnas train --out DIR), its policy.pt, "
            f"or a shipped policy ({shipped})"
        )
    payload = load_versioned(path, POLICY_FORMAT, POLICY_VERSION, "policy", True, "train it again", HOW_TO_RUN)
    try:
        return Policy(payload, source=str(path))
    except (KeyError, TypeError, RuntimeError, ConfigError) as exc:
        raise CheckpointError(f"{path} is an incomplete or mismatched policy file ({exc})") from exc
