"""A user's own class named on the command line as `module:Class`: a benchmark or a search strategy.

Both are imported and checked the same way, so that every mistake is one line before anything runs: a module
that is missing or fails to import, a missing attribute, another kind of object, an abstract class and a class
that needs constructor arguments.
"""

from __future__ import annotations

import importlib
import inspect

from rlnas.errors import RlnasError


def import_attribute(name: str, kind: str, choices: str) -> object:
    """The object `module:Attribute` names (`Attribute` may be dotted, `Outer.Inner`); `kind` ("benchmark",
    "strategy") and `choices` (the built-in names) word the errors."""
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name.split(".")[0]:
            raise RlnasError(
                f"unknown {kind} {name!r}: no module {module_name!r} to import (put it on PYTHONPATH); "
                f"or choose one of {choices}"
            ) from exc
        raise RlnasError(f"cannot import {module_name!r} for the {kind} {name!r}: {exc}") from exc
    except ImportError as exc:
        raise RlnasError(f"cannot import {module_name!r} for the {kind} {name!r}: {exc}") from exc
    target: object = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise RlnasError(f"{module_name!r} has no {attribute!r}; give the {kind} as module:Class")
    return target


def check_user_class(target: object, name: str, base: type, base_path: str, needs: str) -> type:
    """`target` if it is a concrete subclass of `base` (importable as `base_path`) constructible with no
    arguments; else one line naming what is wrong and `needs`, the methods a subclass must implement."""
    if not (inspect.isclass(target) and issubclass(target, base)):
        raise RlnasError(f"{name!r} is not a subclass of {base_path}; subclass it and implement {needs}")
    if inspect.isabstract(target):
        missing = ", ".join(sorted(target.__abstractmethods__))
        raise RlnasError(f"{name!r} does not implement {missing}; a {base.__name__} needs at least {needs}")
    try:
        inspect.signature(target).bind()
    except TypeError as exc:
        raise RlnasError(
            f"{name!r} must be constructible with no arguments ({exc}); give its parameters defaults"
        ) from exc
    return target
