"""Every hyperparameter of an Ape-X training run, in one dataclass; a TOML file may override fields.

The field docstrings are the documentation of record: `rlnas.config_options.field_docs` reads them from this
source, and `rlnas train` turns every field into an option with that text as its help.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from rlnas.agents.settings import check_replay_holds_a_batch, setting
from rlnas.devices import check_device
from rlnas.errors import ConfigError, check_finite, kind_in_words
from rlnas.rewards import SHAPING_FORMS


@dataclass
class ApeXConfig:
    """Ape-X (Horgan et al. 2018) for the search MDP; defaults sized for two CPU cores."""

    # ----------------------------------------------------------------- the environment
    horizon: int = 32
    """Steps per episode; the episode is truncated there (the learner bootstraps)."""
    alpha: float = 6.0
    """Reward sharpness (6 is the reference for NB101, 32 for NB301-like spaces)."""
    shaping: str = "power"
    """Reward shaping form: `power` (acc ** alpha) or `exp` (normalised exponential)."""
    reward: str = "score"
    """`score`: shaped accuracy of the reached cell; `improvement`: gain of the episode's best."""

    # ----------------------------------------------------------------- the Q-network
    d_model: int = 64
    """Width of the transformer's token embeddings."""
    num_layers: int = 2
    """Transformer encoder layers."""
    num_heads: int = 4
    """Attention heads per layer."""
    ff_dim: int = 128
    """Feed-forward width inside each layer."""
    pair_dim: int = 64
    """Hidden width of the pairwise (edge toggle / vertex insertion) head."""

    # ----------------------------------------------------------------- the actors
    actors: int = 2
    """Actors (processes with the Ray executor, objects stepped in turn in-process)."""
    envs_per_actor: int = 8
    """Environments each actor steps in lockstep with one batched forward pass."""
    epsilon_base: float = 0.4
    """Ape-X exploration ladder eps_i = base ** (1 + exponent * i / (N - 1)) over the N env slots."""
    epsilon_exponent: float = 7.0
    """Exponent range of the exploration ladder (a single slot gets eps = base)."""
    weight_sync_period: int = 25
    """Learner updates between weight broadcasts to the actors."""

    # ----------------------------------------------------------------- prioritized replay
    replay_capacity: int = 100_000
    """Transitions the replay holds (oldest are overwritten)."""
    priority_alpha: float = 0.6
    """Priority exponent: sampling probability is proportional to priority ** alpha."""
    priority_beta_start: float = 0.4
    """Initial importance-sampling exponent; annealed linearly to 1."""
    priority_beta_steps: int = 200_000
    """Environment steps over which beta reaches 1 (a fixed number, so --steps never changes it)."""
    priority_epsilon: float = 1e-3
    """Added to |TD error| so that every transition keeps a chance to be sampled."""

    # ----------------------------------------------------------------- learning
    gamma: float = 0.95
    """Discount factor."""
    n_step: int = 3
    """Steps of the n-step return; shorter at the end of an episode, bootstrapped there."""
    batch_size: int = 256
    """Transitions per learner update."""
    learning_rate: float = 5e-4
    """Adam step size."""
    max_grad_norm: float = 10.0
    """Gradients are clipped to this global norm."""
    target_update_period: int = 250
    """Learner updates between copies of the online network into the target network."""
    learning_starts: int = 2_000
    """Environment steps collected before the first learner update."""
    env_steps_per_update: int = 8
    """Replay ratio: the learner makes one update per this many environment steps."""

    # ----------------------------------------------------------------- the run
    total_env_steps: int = 200_000
    """Training stops at the first episode boundary at or after this many environment steps."""
    seed: int = 0
    """Seeds the network initialisation, the actors' environments and the replay sampling."""
    device: str = "auto"
    """Learner device: `auto` (CUDA when available), `cpu` or `cuda`. Actors run on the CPU, except the
    in-process actor of a general policy (`--tasks`), which shares the learner's device (the option serves
    both trainers)."""
    torch_threads: int = 1
    """Intra-op threads of the training process (0 keeps PyTorch's default). One is the fastest for
    the actors' small batches and robust when the cores are shared; the learner gains from more
    only on an idle many-core machine."""
    checkpoint_minutes: float = 5.0
    """Wall-clock minutes between checkpoints (taken at the next episode boundary)."""
    checkpoint_steps: int = 10_000
    """Environment steps between checkpoints, besides checkpoint_minutes, so that a short run killed
    early keeps its progress (taken at the next episode boundary)."""
    actor_restarts: int = 5
    """Ray executor: times Ray restarts each lost actor process (its episode under way is retried);
    past that, or when the replay server is lost, the run ends with a one-line error and --resume
    continues it from the last checkpoint."""

    def __post_init__(self) -> None:
        check_finite(self, setting, exempt=("checkpoint_minutes",))  # inf minutes: never by time
        self.validate()

    def validate(self) -> None:
        positive = (
            "horizon",
            "d_model",
            "num_layers",
            "num_heads",
            "ff_dim",
            "pair_dim",
            "actors",
            "envs_per_actor",
            "weight_sync_period",
            "replay_capacity",
            "n_step",
            "batch_size",
            "target_update_period",
            "env_steps_per_update",
            "total_env_steps",
            "priority_beta_steps",
            "checkpoint_steps",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{setting(name)} must be a positive integer, got {value!r}")
        check_replay_holds_a_batch(self.replay_capacity, self.batch_size)
        if self.shaping not in SHAPING_FORMS:
            raise ConfigError(f"{setting('shaping')} must be one of {', '.join(SHAPING_FORMS)}, got {self.shaping!r}")
        from rlnas.env.search_env import REWARDS  # here: the CLI builds its options from this module cheaply

        if self.reward not in REWARDS:
            raise ConfigError(f"{setting('reward')} must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        if self.d_model % self.num_heads:
            raise ConfigError(
                f"{setting('d_model')} must be a multiple of {setting('num_heads')}, "
                f"got {self.d_model} and {self.num_heads}"
            )
        for name in ("seed", "actor_restarts", "learning_starts", "torch_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{setting(name)} must be an integer, got {value!r}")
        rules = {  # field: (holds, the rule in words)
            "alpha": (self.alpha > 0, "> 0"),
            "gamma": (0 <= self.gamma <= 1, "in [0, 1]"),
            "epsilon_base": (0 <= self.epsilon_base <= 1, "in [0, 1]"),
            "epsilon_exponent": (self.epsilon_exponent >= 0, ">= 0"),
            "priority_alpha": (self.priority_alpha >= 0, ">= 0"),
            "priority_beta_start": (0 <= self.priority_beta_start <= 1, "in [0, 1]"),
            "priority_epsilon": (self.priority_epsilon > 0, "> 0"),
            "learning_rate": (self.learning_rate > 0, "> 0"),
            "max_grad_norm": (self.max_grad_norm > 0, "> 0"),
            "learning_starts": (self.learning_starts >= 0, ">= 0"),
            "checkpoint_minutes": (self.checkpoint_minutes > 0, "> 0"),
            "torch_threads": (self.torch_threads >= 0, ">= 0"),
            "seed": (self.seed >= 0, ">= 0"),
            "actor_restarts": (self.actor_restarts >= 0, ">= 0"),
        }
        for name, (ok, rule) in rules.items():
            if not ok:
                raise ConfigError(f"{setting(name)} must be {rule}, got {getattr(self, name)!r}")
        check_device(self.device, setting("device"))

    # ----------------------------------------------------------------- derived
    def epsilons(self) -> list[float]:
        """The exploration ladder over all env slots (actor-major), as in Ape-X."""
        n = self.actors * self.envs_per_actor
        if n == 1:
            return [self.epsilon_base]
        return [self.epsilon_base ** (1 + self.epsilon_exponent * i / (n - 1)) for i in range(n)]

    def beta(self, env_steps: int) -> float:
        fraction = min(1.0, env_steps / self.priority_beta_steps)
        return self.priority_beta_start + fraction * (1.0 - self.priority_beta_start)

    def network_overrides(self) -> dict:
        return {k: getattr(self, k) for k in ("d_model", "num_layers", "num_heads", "ff_dim", "pair_dim")}

    def env_kwargs(self) -> dict:
        return {"horizon": self.horizon, "alpha": self.alpha, "shaping": self.shaping, "reward": self.reward}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> ApeXConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict, source: str = "the config") -> ApeXConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{source} has unknown field(s) {', '.join(unknown)}; see `ApeXConfig` for the fields")
        checked = {}
        for name, value in values.items():
            default = getattr(cls, name, None)
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if default is not None and type(value) is not type(default):
                raise ConfigError(f"{source}: {name} must be {kind_in_words(type(default))}, got {value!r}")
            checked[name] = value
        return cls(**checked)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> ApeXConfig:
        """Defaults, overridden by the TOML file's fields (top level or an [apex] table), then `overrides`."""
        path = Path(path)
        try:
            with path.open("rb") as f:
                values = tomllib.load(f)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML ({exc})") from exc
        if set(values) == {"apex"} and isinstance(values["apex"], dict):
            values = values["apex"]
        return cls.from_dict({**values, **overrides}, source=str(path))
