"""Search strategies behind one interface: `run(benchmark, budget, rng)` -> the queried cells."""

from __future__ import annotations

from rlnas.errors import RlnasError
from rlnas.strategies.agent import AgentSearch
from rlnas.strategies.base import Strategy
from rlnas.strategies.baselines import LocalSearch, RandomSearch, RandomWalk, RegularizedEvolution
from rlnas.strategies.reinforce import Reinforce

STRATEGIES: dict[str, type[Strategy]] = {
    "rs": RandomSearch,
    "rw": RandomWalk,
    "ls": LocalSearch,
    "re": RegularizedEvolution,
    "reinforce": Reinforce,
    "agent": AgentSearch,
}
DESCRIPTIONS = {
    "rs": "random search (the space's default sampler)",
    "rw": "random walk (a random neighbour each step)",
    "ls": "local search (NASLib: shuffled neighbourhood of the best, restart at local optima)",
    "re": "regularized evolution (population 30, tournament 10)",
    "reinforce": "REINFORCE-trained LSTM controller (Zoph & Le 2017); reinforce:ray queries through Ray",
    "agent": "the learned search policy of rlnas train: agent:DIR (greedy on Q over unseen neighbours)",
}


def make_strategy(spec: str) -> Strategy:
    """A strategy from its name, or `name:argument` for those that take one (e.g. `agent:DIR`)."""
    name, _, argument = spec.partition(":")
    if name not in STRATEGIES:
        raise RlnasError(f"unknown strategy {spec!r}; choose from {', '.join(STRATEGIES)}")
    return STRATEGIES[name](argument) if argument else STRATEGIES[name]()


__all__ = ["DESCRIPTIONS", "STRATEGIES", "Strategy", "make_strategy"]
