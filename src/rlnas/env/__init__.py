"""The search MDP: a Gymnasium environment whose actions are the neighbour edits of a cell."""

from rlnas.env.search_env import (
    CONTEXT_FIELDS,
    CONTEXT_SIZE,
    REWARDS,
    ArchitectureSearchEnv,
    InvalidActionError,
    encode_cell,
    num_tokens,
)

__all__ = [
    "CONTEXT_FIELDS",
    "CONTEXT_SIZE",
    "REWARDS",
    "ArchitectureSearchEnv",
    "InvalidActionError",
    "encode_cell",
    "num_tokens",
]
