"""A user's own class named on the command line as `module:Class`: a benchmark or a search strategy.

Both are imported, checked and made the same way, so that every mistake is one line before anything runs: a
module that is missing or fails to import, a missing attribute, another kind of object, an abstract class, a
class that needs constructor arguments and a constructor that fails. (An error raised later, inside the user's
`lookup` or `ask`, keeps its traceback: it is a bug to find in their code.)
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from pathlib import Path

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
    except Exception as exc:  # an ImportError, or the module's own error (a SyntaxError, a failed setup)
        raise RlnasError(f"cannot import {module_name!r} for the {kind} {name!r}: {type(exc).__name__}: {exc}") from exc
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


def make_user_object(cls: type, name: str, kind: str) -> object:
    """`cls()`, with an error of the user's constructor (a missing weights file, a bad setting) as one line
    naming the class: it runs before any worker starts, so nothing is lost."""
    try:
        return cls()
    except Exception as exc:
        raise RlnasError(f"the {kind} {name!r} failed when made: {type(exc).__name__}: {exc}") from exc


def source_digest(cls: type) -> str | None:
    """A digest of the file that defines `cls`: a comparison resumed or extended after the user edited their
    class is refused, as one whose policy file changed is. None where the file cannot be read."""
    try:
        return hashlib.sha256(Path(inspect.getfile(cls)).read_bytes()).hexdigest()[:16]
    except (OSError, TypeError):
        return None
