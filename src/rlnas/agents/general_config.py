"""The hyperparameters of a general policy's training, in one dataclass (no PyTorch: `rlnas train` builds
its options from the field docstrings at every start, as it does from `ApeXConfig`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from rlnas.agents.settings import check_replay_holds_a_batch, setting
from rlnas.env.search_episode import TEACHERS, EpisodeConfig
from rlnas.errors import ConfigError, check_finite

#: The learner's device of a general policy's training when `--device` is not given: its small network is
#: barely faster on a GPU (docs/training.md), so `auto` is not the default here as it is for `ApeXConfig`.
GENERAL_DEVICE = "cpu"


@dataclass(frozen=True)
class GeneralTrainConfig:
    """Hyperparameters of a general policy's training."""

    seed: int = 0
    """Seeds every generator of the run (environments, exploration, replay sampling, initial weights)."""
    total_env_steps: int = 20_000
    """Environment steps of the run (all environments together)."""
    envs: int = 4
    """Environments an actor steps in lockstep, each with its own epsilon."""
    epsilon_base: float = 0.4
    """Ape-X's ladder over the N = actors * envs environments: environment i explores with
    epsilon_base ** (1 + epsilon_exponent * i / (N - 1))."""
    epsilon_exponent: float = 7.0
    """See epsilon_base."""
    teacher_envs: int = 0
    """Environments of each actor (its last ones) that follow the teacher instead of the network: their
    transitions are demonstrations (Ape-X DQfD, Pohlen et al. 2018)."""
    teacher: str = "local_search"
    """How the teacher acts (`rlnas.env.search_episode.TEACHERS`): local_search (from the best cell), elites
    (local search from elites drawn in turn, `elite_search_action`) or climb (from each elite until its
    neighbourhood is spent, then from fresh samples, `elite_climb_action`)."""
    demo_margin: float = 0.0
    """DQfD's large margin on demonstrations: the loss max_a [Q(s, a) + margin * (a != a_demo)] - Q(s, a_demo)
    pushes the demonstrated action's value above every other's by the margin (0: no margin loss)."""
    demo_loss_weight: float = 1.0
    """Weight of the margin loss against the TD loss."""
    gamma: float = 0.99
    """Discount per step."""
    n_step: int = 3
    """Steps of the n-step return."""
    learning_rate: float = 3e-4
    """Adam's step size."""
    batch_size: int = 32
    """Transitions per update."""
    replay_capacity: int = 10_000
    """Transitions the replay keeps (about 4.6 kB each with the default sizes)."""
    learning_starts: int = 500
    """Environment steps before the first update."""
    env_steps_per_update: int = 4
    """Replay ratio: one update per this many environment steps."""
    target_update_period: int = 250
    """Updates between copies of the online network into the target network."""
    weight_sync_period: int = 25
    """Updates between copies of the online network into the actors'."""
    priority_alpha: float = 0.6
    """Prioritization exponent."""
    priority_beta: float = 0.4
    """Importance-sampling exponent at the start, annealed to 1 over the run."""
    priority_epsilon: float = 1e-3
    """Added to |TD error| so that no transition has zero priority."""
    max_grad_norm: float = 10.0
    """Gradient clipping."""
    d_model: int = 32
    """Network width (`GeneralQNetworkConfig`)."""
    num_layers: int = 2
    """Transformer layers."""
    num_heads: int = 4
    """Attention heads."""
    ff_dim: int = 64
    """Feed-forward width."""
    head_dim: int = 32
    """Action-head width."""
    actors: int = 1
    """Actors, each stepping `envs` environments: Ray actor processes with --executor ray; the in-process
    executor runs one."""
    actor_rounds: int = 16
    """Ray executor: lockstep steps of its environments an actor runs per request (it receives the newest
    weights with the next request)."""
    actor_restarts: int = 5
    """Ray executor: times Ray restarts a lost actor process (its episodes under way are lost); past that the
    run ends with a one-line error and --resume continues it from the last checkpoint."""
    checkpoint_updates: int = 500
    """Learner updates between checkpoints of a run with a folder (and one at the end); what is computed
    does not depend on it."""
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    """The episode rules and observation sizes."""

    def __post_init__(self) -> None:
        check_finite(self, setting)
        positive = (
            "total_env_steps",
            "envs",
            "n_step",
            "batch_size",
            "replay_capacity",
            "env_steps_per_update",
            "target_update_period",
            "weight_sync_period",
            "d_model",
            "num_layers",
            "num_heads",
            "ff_dim",
            "head_dim",
            "actors",
            "actor_rounds",
            "checkpoint_updates",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{setting(name)} must be a positive integer, got {value!r}")
        check_replay_holds_a_batch(self.replay_capacity, self.batch_size)
        rules = {  # field: (holds, the rule in words)
            "seed": (self.seed >= 0, ">= 0"),
            "teacher_envs": (0 <= self.teacher_envs < self.envs, ">= 0 and below envs"),
            "teacher": (self.teacher in TEACHERS, "one of " + ", ".join(TEACHERS)),
            "demo_margin": (self.demo_margin >= 0, ">= 0"),
            "demo_loss_weight": (self.demo_loss_weight >= 0, ">= 0"),
            "learning_starts": (self.learning_starts >= 0, ">= 0"),
            "actor_restarts": (self.actor_restarts >= 0, ">= 0"),
            "gamma": (0 <= self.gamma <= 1, "in [0, 1]"),
            "epsilon_base": (0 <= self.epsilon_base <= 1, "in [0, 1]"),
            "epsilon_exponent": (self.epsilon_exponent >= 0, ">= 0"),
            "learning_rate": (self.learning_rate > 0, "> 0"),
            "priority_alpha": (self.priority_alpha >= 0, ">= 0"),
            "priority_beta": (0 <= self.priority_beta <= 1, "in [0, 1]"),
            "priority_epsilon": (self.priority_epsilon > 0, "> 0"),
            "max_grad_norm": (self.max_grad_norm > 0, "> 0"),
        }
        for name, (ok, rule) in rules.items():
            if not ok:
                raise ConfigError(f"{setting(name)} must be {rule}, got {getattr(self, name)!r}")
        if self.d_model % self.num_heads:
            raise ConfigError(
                f"{setting('d_model')} must be a multiple of {setting('num_heads')}, "
                f"got {self.d_model} and {self.num_heads}"
            )

    def epsilons(self) -> np.ndarray:
        """The exploration ladder over all environments, actor-major."""
        n = self.actors * self.envs
        if n == 1:
            return np.array([self.epsilon_base])
        return self.epsilon_base ** (1 + self.epsilon_exponent * np.arange(n) / (n - 1))

    def teaching(self) -> dict:
        """What a policy records of its teacher (nothing when none acted)."""
        if not self.teacher_envs:
            return {}
        return {"teacher": self.teacher, "teacher_envs": self.teacher_envs, "demo_margin": self.demo_margin}

    def beta(self, env_steps: int) -> float:
        return self.priority_beta + min(1.0, env_steps / self.total_env_steps) * (1.0 - self.priority_beta)

    def network_config(self):
        from rlnas.agents.general_qnetwork import GeneralQNetworkConfig  # PyTorch, only when a network is built

        names = ("d_model", "num_layers", "num_heads", "ff_dim", "head_dim")
        return GeneralQNetworkConfig.for_episodes(self.episode, **{n: getattr(self, n) for n in names})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GeneralTrainConfig:
        return cls(**{**values, "episode": EpisodeConfig(**values["episode"])})
