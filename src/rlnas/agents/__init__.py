"""Learned searchers: the transformer Q-network, Ape-X training, and the reusable policy."""

from rlnas.agents.policy import Policy, load_policy

__all__ = ["Policy", "load_policy"]
