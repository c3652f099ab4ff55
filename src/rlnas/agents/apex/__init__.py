"""Ape-X training of the Q-network: one algorithm, an in-process and a Ray executor."""

from rlnas.agents.apex.config import ApeXConfig
from rlnas.agents.apex.train import EXECUTORS, RunSpec, read_checkpoint, train

__all__ = ["EXECUTORS", "ApeXConfig", "RunSpec", "read_checkpoint", "train"]
