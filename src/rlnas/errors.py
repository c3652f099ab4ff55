"""User-facing errors: each carries one line that names the problem and the fix."""

import dataclasses
import math
from collections.abc import Callable


class RlnasError(Exception):
    """Base class for errors the CLI prints as one line, without a traceback."""


class InvalidCellError(RlnasError, ValueError):
    """A cell that is malformed or outside its search space."""


class DataError(RlnasError):
    """Benchmark data that is missing, truncated or corrupt."""


class BudgetExhaustedError(RlnasError):
    """A query that would exceed a benchmark's budget of unique architectures."""


class ConfigError(RlnasError):
    """A training configuration (option, TOML file, or a resume with different settings) that is invalid."""


class CheckpointError(RlnasError):
    """A checkpoint or policy file that is missing, truncated, corrupt or of another kind."""


def kind_in_words(kind: type) -> str:
    """A TOML value's type as an error names it: "an integer", "a number", "true or false", "a string"."""
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        kind, f"a {kind.__name__}"
    )


def check_finite(config, name: Callable[[str], str] = str, exempt: tuple[str, ...] = ()) -> None:
    """Refuse a float field of a dataclass that is infinite or NaN (a typo such as `1e999`, or `nan`, passes
    most range rules and fails deep inside training); `name` words a field as the user gave it."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value) and field.name not in exempt:
            raise ConfigError(f"{name(field.name)} must be a finite number, got {value!r}")
