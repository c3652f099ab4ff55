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
