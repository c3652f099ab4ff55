"""One command-line option per field of a hyperparameter dataclass, named and documented by the field.

The dataclass is the one place a hyperparameter is declared (CleanRL's rule): its docstring is the option's
help, its default the option's default, and a new field is a new option with nothing else to edit. An option
not given arrives as None, so a command can layer what was given over a file or another default.

This module needs no PyTorch: the CLI builds its commands from it at every start.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Annotated

import typer

from rlnas.errors import kind_in_words

SCALARS = (int, float, str, bool)
#: An `int | None` field (None: "all") is an int option where 0 stands for None.
OPTIONAL_INT = int | None


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal after it in the class body of `cls`), on one line."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def config_parameters(
    cls: type,
    panel: str,
    skip: frozenset[str] = frozenset(),
    aliases: dict[str, str] | None = None,
    other_defaults: tuple[str, dict] | None = None,
) -> list[inspect.Parameter]:
    """Keyword-only parameters, one per scalar (or `int | None`) field of `cls` not in `skip`, defaulting to None
    (not given), with the field's docstring and default as help. `aliases` (field -> a second option name) adds
    names; `other_defaults` (a label such as "with --tasks", field -> default) notes a default that differs."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    aliases = aliases or {}
    label, others = other_defaults or ("", {})
    parameters = []
    for field in fields(cls):
        hint = hints[field.name]
        if field.name in skip or (hint not in SCALARS and hint != OPTIONAL_INT):
            continue
        names = [f"--{field.name.replace('_', '-')}"]
        if field.name in aliases:
            names.append(f"--{aliases[field.name]}")
        default = f"default {'0' if field.default is None else field.default}"
        if hint == OPTIONAL_INT:
            default += "; 0 stands for None"
        if field.name in others and others[field.name] != field.default:
            default += f"; {label} {others[field.name]}"
        option = typer.Option(
            *names, help=f"{docs.get(field.name, '')} ({default})", show_default=False, rich_help_panel=panel
        )
        option_type = int if hint == OPTIONAL_INT else hint
        parameters.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[option_type | None, option],
            )
        )
    return parameters


def scalar_fields(cls: type) -> dict[str, object]:
    """Each field of `cls` that a text can set (a scalar, or a scalar or None), with its default."""
    hints = typing.get_type_hints(cls)
    scalar = {}
    for field in fields(cls):
        kinds = [kind for kind in typing.get_args(hints[field.name]) or (hints[field.name],) if kind is not type(None)]
        if field.init and len(kinds) == 1 and kinds[0] in SCALARS:
            scalar[field.name] = field.default
    return scalar


def parse_field(cls: type, name: str, text: str) -> object:
    """`text` read as a value of the scalar field `name` of `cls`: an int, a float, true/false, a string, or
    `none` where the field may be None. A text of another kind is a ValueError naming what the field takes."""
    hint = typing.get_type_hints(cls)[name]
    optional = type(None) in typing.get_args(hint)
    (kind,) = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
    if optional and text.lower() == "none":
        return None
    if kind is bool:
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() in words:
            return words[text.lower()]
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise ValueError(f"{name} takes {kind_in_words(kind)}{' or none' if optional else ''}, not {text!r}")


def given_fields(cls: type, options: dict) -> dict:
    """The fields of `cls` among `options` that were given (not None), with 0 read as None for an `int | None`
    field, ready for `cls(**...)` or `dataclasses.replace`."""
    hints = typing.get_type_hints(cls)
    return {
        name: None if hints[name] == OPTIONAL_INT and value == 0 else value
        for name, value in options.items()
        if value is not None and name in hints
    }


def with_options(parameters: list[inspect.Parameter]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator giving a Typer command that takes `**options` the `parameters` as options of its own.

    The command is called with every one of them as a keyword (None where the option was not given).
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
            for parameter in signature.parameters.values()
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        clash = {p.name for p in own} & {p.name for p in parameters}
        if clash:
            raise TypeError(f"{command.__name__} declares configuration field(s) {sorted(clash)} itself")

        @functools.wraps(command)
        def wrapper(**options) -> None:
            return command(**options)

        del wrapper.__wrapped__  # Typer must see the signature below, not the command's own
        wrapper.__signature__ = signature.replace(parameters=own + parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
        return wrapper

    return decorate
