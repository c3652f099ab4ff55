"""Search strategies behind one ask/tell interface; `rlnas.strategies.runner` runs them."""

from __future__ import annotations

import numpy as np

from rlnas.errors import RlnasError
from rlnas.spaces import SearchSpace
from rlnas.strategies.agent import AgentSearch
from rlnas.strategies.agent_predictor import AgentPredictorSearch
from rlnas.strategies.bananas import Bananas
from rlnas.strategies.base import Strategy
from rlnas.strategies.baselines import LocalSearch, RandomSearch, RandomWalk, RegularizedEvolution
from rlnas.strategies.learned import LearnedSearch
from rlnas.strategies.reinforce import Reinforce
from rlnas.strategies.tpe import TPE

STRATEGIES: dict[str, type[Strategy]] = {
    "rs": RandomSearch,
    "rw": RandomWalk,
    "ls": LocalSearch,
    "re": RegularizedEvolution,
    "reinforce": Reinforce,
    "agent": AgentSearch,
    "learned": LearnedSearch,
    "tpe": TPE,
    "bananas": Bananas,
    "agent+predictor": AgentPredictorSearch,
}
DESCRIPTIONS = {
    "rs": "random search (the space's default sampler)",
    "rw": "random walk (a random neighbour each step)",
    "ls": "local search (NASLib: shuffled neighbourhood of the best, restart at local optima)",
    "re": "regularized evolution (population 30, tournament 10)",
    "reinforce": "REINFORCE-trained LSTM controller (Zoph & Le 2017)",
    "agent": "the learned search policy of rlnas train: agent:DIR (greedy on Q over unseen neighbours)",
    "learned": "a general policy (one network for every space; a whole search per training episode): "
    "learned:NAME, learned:NAME:uniform (the network picks the kind of move, an edit is drawn at random) or "
    "learned:NAME:guided (an edit is drawn by a score model of the run's results)",
    "tpe": "Optuna's TPE sampler, its defaults, over the space's categorical choices (the tpe extra)",
    "bananas": "BANANAS (White et al. 2021): path-encoding MLP ensemble, Thompson sampling over mutations of the best; "
    "bananas:gin ranks with a graph network",
    "agent+predictor": "a general policy whose best actions a predictor screens (bananas' predictor and acquisition): "
    "agent+predictor:NAME[:gin]",
}


#: The strategies whose spec carries an argument, and how to write it.
TAKES_ARGUMENT = {
    "agent": "agent:DIR (a policy folder of rlnas train, or a shipped policy's name)",
    "learned": "learned:NAME or learned:NAME:EDITS (a general policy file, or a shipped general policy's name; "
    "EDITS greedy, uniform or guided)",
    "agent+predictor": "agent+predictor:NAME or agent+predictor:NAME:PREDICTOR (a general policy; path or gin)",
}
#: The strategies whose spec may carry an argument.
OPTIONAL_ARGUMENT = {"bananas": "bananas:PREDICTOR (path, the default, or gin)"}


def make_strategy(spec: str) -> Strategy:
    """A strategy from its name, or `name:argument` for those that take one (e.g. `agent:DIR`)."""
    name, colon, argument = spec.partition(":")
    if name not in STRATEGIES:
        raise RlnasError(f"unknown strategy {spec!r}; choose from {', '.join(STRATEGIES)}")
    if name in TAKES_ARGUMENT and not argument:
        raise RlnasError(f"the strategy {name} needs an argument: {TAKES_ARGUMENT[name]}")
    if name in OPTIONAL_ARGUMENT and colon and not argument:
        raise RlnasError(f"{spec!r} has nothing after the colon; write {name} or {OPTIONAL_ARGUMENT[name]}")
    if name not in TAKES_ARGUMENT and name not in OPTIONAL_ARGUMENT and colon:
        raise RlnasError(f"the strategy {name} takes no argument; write {name}, not {spec!r}")
    return STRATEGIES[name](argument) if argument else STRATEGIES[name]()


def check_strategy(spec: str, space: SearchSpace) -> Strategy:
    """`make_strategy(spec)`, started once in `space` with a throwaway generator, so that a strategy that
    cannot act there (a policy trained in another space) fails before a worker starts or a file is written."""
    strategy = make_strategy(spec)
    strategy.start(space, np.random.default_rng(0))
    return strategy


__all__ = ["DESCRIPTIONS", "STRATEGIES", "TAKES_ARGUMENT", "Strategy", "check_strategy", "make_strategy"]
