"""rlnas: reinforcement-learning neural architecture search where the agent learns to search."""

__version__ = "0.1.0"
