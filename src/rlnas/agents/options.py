"""`rlnas train`'s hyperparameter options: one per field of `ApeXConfig` (one benchmark's agent) and of
`GeneralTrainConfig` (a general policy, with --tasks), named and documented by the field; a field both
have is one option.

This module needs no PyTorch: the CLI builds its commands from it at every start.
"""

from __future__ import annotations

import inspect
from dataclasses import fields

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.general_config import GENERAL_DEVICE, GeneralTrainConfig
from rlnas.agents.settings import OPTION_ALIASES
from rlnas.config_options import config_parameters, with_options
from rlnas.errors import ConfigError

PANEL = "Hyperparameters: ApeXConfig fields, over --config"
GENERAL_PANEL = "GeneralTrainConfig fields (--tasks only)"


def all_config_parameters() -> list[inspect.Parameter]:
    """The options of both configurations: ApeXConfig's (noting a default that differs with --tasks), then the
    fields only GeneralTrainConfig has."""
    general = {f.name: f.default for f in fields(GeneralTrainConfig)} | {"device": GENERAL_DEVICE}
    parameters = config_parameters(ApeXConfig, PANEL, aliases=OPTION_ALIASES, other_defaults=("with --tasks", general))
    own = frozenset(p.name for p in parameters)
    return parameters + config_parameters(GeneralTrainConfig, GENERAL_PANEL, skip=own, aliases=OPTION_ALIASES)


#: Gives a Typer command that takes `**overrides` one option per field of either configuration.
with_config_options = with_options(all_config_parameters())


def config_overrides(options: dict, cls: type = ApeXConfig) -> dict:
    """The fields given (not None) among `options`, keyed by field name (an alias counts as its field);
    a ConfigError names the options given that are not fields of `cls` (the other kind of training's)."""
    names = {f.name for config in (ApeXConfig, GeneralTrainConfig) for f in fields(config)} | set(
        OPTION_ALIASES.values()
    )
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"not configuration fields: {', '.join(unknown)}")
    by_alias = {alias: name for name, alias in OPTION_ALIASES.items()}
    overrides = {}
    for key, value in options.items():
        if value is not None:
            overrides[by_alias.get(key, key)] = value
    foreign = sorted(set(overrides) - {f.name for f in fields(cls)})
    if foreign:
        given = ", ".join(f"--{name.replace('_', '-')}" for name in foreign)
        if cls is ApeXConfig:
            raise ConfigError(f"{given}: an option of a general policy's training; add --tasks FILE or leave it out")
        raise ConfigError(f"{given}: an option of one benchmark's agent (not of --tasks training); leave it out")
    return overrides
