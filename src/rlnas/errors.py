"""User-facing errors: each carries one line that names the problem and the fix."""


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
