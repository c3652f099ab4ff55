"""`rlnas train`'s hyperparameter options: one per `ApeXConfig` field, named and documented by the field.

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

from rlnas.agents.apex.config import ApeXConfig, field_docs

#: The earlier, shorter option name of a field, still accepted (as an option and as a keyword).
ALIASES = {"total_env_steps": "steps"}
PANEL = "Hyperparameters: ApeXConfig fields, over --config"


def config_parameters() -> list[inspect.Parameter]:
    """Keyword-only parameters, one per field: its type or None (not given), its docstring as help."""
    hints = typing.get_type_hints(ApeXConfig)
    docs = field_docs()
    parameters = []
    for field in fields(ApeXConfig):
        names = [f"--{field.name.replace('_', '-')}"]
        if field.name in ALIASES:
            names.append(f"--{ALIASES[field.name]}")
        option = typer.Option(
            *names,
            help=f"{docs.get(field.name, '')} (default {field.default})",
            show_default=False,
            rich_help_panel=PANEL,
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


def with_config_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a Typer command that takes `**overrides` one option per `ApeXConfig` field.

    The command is called with every field as a keyword (None where the option was not given).
    """
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    clash = {p.name for p in own} & {f.name for f in fields(ApeXConfig)}
    if clash:
        raise TypeError(f"{command.__name__} declares ApeXConfig field(s) {sorted(clash)} itself")

    @functools.wraps(command)
    def wrapper(**options) -> None:
        return command(**options)

    del wrapper.__wrapped__  # Typer must see the signature below, not the command's own
    wrapper.__signature__ = signature.replace(parameters=own + config_parameters())
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    return wrapper


def config_overrides(options: dict) -> dict:
    """The fields given (not None) among `options`, keyed by field name (an alias counts as its field)."""
    names = {f.name for f in fields(ApeXConfig)} | set(ALIASES.values())
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"not ApeXConfig fields: {', '.join(unknown)}")
    by_alias = {alias: name for name, alias in ALIASES.items()}
    overrides = {}
    for key, value in options.items():
        if value is not None:
            overrides[by_alias.get(key, key)] = value
    return overrides
