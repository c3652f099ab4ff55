"""How training settings are named to the user: the option of a config field.

Shared by the one-benchmark (`ApeXConfig`) and the general (`GeneralTrainConfig`) trainers, whose fields
become `rlnas train` options; this module needs neither (nor PyTorch).
"""

from __future__ import annotations

from rlnas.errors import ConfigError

#: The earlier, shorter option name of a field, still accepted (as an option and as a keyword).
OPTION_ALIASES = {"total_env_steps": "steps"}


def setting(field: str) -> str:
    """How an error names a training field: by its `rlnas train` option, the TOML key beside it where the two
    differ beyond dashes."""
    alias = OPTION_ALIASES.get(field)
    return f"--{alias} ({field})" if alias else f"--{field.replace('_', '-')}"


def check_steps_left(done: int, total: int, saved_total: int) -> None:
    """A resumed run trains on to `total`: one below the steps already done would only relabel the run. The
    run's own total (`saved_total`) stands: a finished run stops at an episode boundary past it."""
    if total < done and total != saved_total:
        raise ConfigError(
            f"the run has trained {done:,} environment steps already; give {setting('total_env_steps')} of at "
            "least that, or leave it out"
        )


def check_replay_holds_a_batch(replay_capacity: int, batch_size: int) -> None:
    """The learner samples a whole batch from the replay: a smaller replay would never let it update."""
    if replay_capacity < batch_size:
        raise ConfigError(
            f"{setting('replay_capacity')} {replay_capacity} holds less than one batch "
            f"({setting('batch_size')} {batch_size}); raise it or lower the batch"
        )
