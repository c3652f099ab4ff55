"""Every hyperparameter dataclass refuses an infinite or NaN float in one line (a typo such as `1e999`, or `nan`,
passes most range rules and fails deep inside training, after files are written)."""

from __future__ import annotations

import math

import pytest

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.general_config import GeneralTrainConfig
from rlnas.benchmarks.training import TrainingSettings
from rlnas.enas.config import ENASConfig
from rlnas.env.edit_guide import EditGuideConfig
from rlnas.env.search_episode import EpisodeConfig
from rlnas.errors import ConfigError
from rlnas.predictors.config import GINConfig, PathConfig
from rlnas.strategies.reinforce import ReinforceConfig

CASES = [
    (ApeXConfig, "learning_rate", "--learning-rate"),
    (ApeXConfig, "gamma", "--gamma"),
    (GeneralTrainConfig, "learning_rate", "--learning-rate"),
    (TrainingSettings, "learning_rate", "learning_rate"),
    (ENASConfig, "controller_learning_rate", "controller_learning_rate"),
    (ENASConfig, "entropy_weight", "entropy_weight"),
    (EpisodeConfig, "alpha", "alpha"),
    (EditGuideConfig, "ridge", "ridge"),
    (ReinforceConfig, "learning_rate", "learning_rate"),
    (PathConfig, "learning_rate", "learning_rate"),
    (GINConfig, "weight_decay", "weight_decay"),
]


@pytest.mark.parametrize(("config", "field", "words"), CASES)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_float_that_is_not_finite_is_one_line(config, field, words, value):
    with pytest.raises(ConfigError, match=f"^{words} must be a finite number"):
        config(**{field: value})


def test_infinite_checkpoint_minutes_mean_never_by_time():
    assert ApeXConfig(checkpoint_minutes=math.inf).checkpoint_minutes == math.inf


@pytest.mark.parametrize("config", [ApeXConfig, GeneralTrainConfig])
def test_a_replay_smaller_than_a_batch_is_refused(config):
    """The learner samples a whole batch, so such a run would never make an update."""
    with pytest.raises(ConfigError, match="--replay-capacity 10 holds less than one batch"):
        config(replay_capacity=10, batch_size=32)
