"""`rlnas train`'s hyperparameter options: one per field of `ApeXConfig` (one benchmark's agent) and of
`GeneralTrainConfig` (a general policy, with --tasks), named and documented by the field; a field both
have is one option.

This module needs no PyTorch: the CLI builds its commands from it at every start.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Annotated

import typer

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.general_config import GENERAL_DEVICE, GeneralTrainConfig
from rlnas.agents.settings import OPTION_ALIASES, field_docs
from rlnas.errors import ConfigError

PANEL = "Hyperparameters: ApeXConfig fields, over --config"
GENERAL_PANEL = "GeneralTrainConfig fields (--tasks only)"
SCALARS = (int, float, str, bool)


def config_parameters(
    cls: type = ApeXConfig, panel: str = PANEL, skip: frozenset[str] = frozenset(), others: dict | None = None
) -> list[inspect.Parameter]:
    """Keyword-only parameters, one per scalar field of `cls` not in `skip`: its type or None (not given), its
    docstring as help. `others` (field name -> its default with --tasks) adds that default where it differs."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    others = others or {}
    parameters = []
    for field in fields(cls):
        if field.name in skip or hints[field.name] not in SCALARS:
            continue
        names = [f"--{field.name.replace('_', '-')}"]
        if field.name in OPTION_ALIASES:
            names.append(f"--{OPTION_ALIASES[field.name]}")
        default = f"default {field.default}"
        if field.name in others and others[field.name] != field.default:
            default += f"; with --tasks {others[field.name]}"
        option = typer.Option(
            *names, help=f"{docs.get(field.name, '')} ({default})", show_default=False, rich_help_panel=panel
        )
        parameters.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[hints[field.name] | None, option],
            )
        )
    return parameters


def all_config_parameters() -> list[inspect.Parameter]:
    """The options of both configurations: ApeXConfig's, then the fields only GeneralTrainConfig has."""
    general = {f.name: f.default for f in fields(GeneralTrainConfig)} | {"device": GENERAL_DEVICE}
    parameters = config_parameters(others=general)
    own = frozenset(p.name for p in parameters)
    return parameters + config_parameters(GeneralTrainConfig, GENERAL_PANEL, skip=own)


def with_config_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a Typer command that takes `**overrides` one option per field of either configuration.

    The command is called with every field as a keyword (None where the option was not given).
    """
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    options = all_config_parameters()
    clash = {p.name for p in own} & {p.name for p in options}
    if clash:
        raise TypeError(f"{command.__name__} declares configuration field(s) {sorted(clash)} itself")

    @functools.wraps(command)
    def wrapper(**options) -> None:
        return command(**options)

    del wrapper.__wrapped__  # Typer must see the signature below, not the command's own
    wrapper.__signature__ = signature.replace(parameters=own + options)
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    return wrapper


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
