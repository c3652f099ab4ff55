"""The learned policy as a search strategy: `agent:DIR` in `rlnas compare`, and `rlnas search`.

Protocol. The agent starts from a cell of the space's default sampler and, at every step, takes
the action with the highest Q-value among those that lead to a cell not queried yet in this run;
so it follows its greedy action whenever that reaches a new cell, and never cycles or re-walks
seen cells. Every new cell costs one query of the budget; the start cell too. When no valid edit
of the current cell leads to an unseen cell, it restarts from a fresh sample. Episodes are
chained: when the walk outlasts the training horizon, the environment is reset at the current
cell, so the context (budget left, best so far) looks as it did in training.

On the ask/tell runner the environment steps on results it is told: its session runs over
`ToldResults`, which answers the environment's query of the asked cell with the told result.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rlnas.benchmarks import Evaluation, ToldResults
from rlnas.cells import Cell
from rlnas.errors import RlnasError
from rlnas.spaces import SearchSpace
from rlnas.strategies.base import Strategy

if TYPE_CHECKING:
    from rlnas.agents.policy import Policy


class AgentSearch(Strategy):
    name = "agent"

    def __init__(self, policy: str | Path | Policy | None = None):
        from rlnas.agents.policy import Policy, load_policy  # torch, only when an agent is made

        if policy is None:
            raise RlnasError("the agent strategy needs a trained policy: use agent:DIR (a folder of rlnas train)")
        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)

    @property
    def training_seed(self) -> int | None:
        """The seed the policy was trained with; evaluations must use other seeds."""
        return self.policy.info.get("config", {}).get("seed")

    @property
    def trained_on(self) -> list[str]:
        """The benchmarks the policy was trained on: results there are in-distribution."""
        return [self.policy.benchmark]

    @property
    def fingerprint(self) -> str:
        """A content hash of the policy file: a resumed comparison must use the same policy."""
        return hashlib.sha256(Path(self.policy.source).read_bytes()).hexdigest()

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        self.told = ToldResults(space)
        self.session = self.told.session()
        self.env = self.policy.make_env(self.told)
        self.obs = None
        self.pending: tuple[str, int | None] | None = None  # what the asked cell is: a restart or an action

    def ask(self) -> Cell | None:
        if self.pending is not None:
            return None
        if self.obs is not None:
            if self.env.t >= self.env.horizon:
                self.obs, _ = self.env.reset(options={"session": self.session, "cell": self.env.cell})
            targets = self.env.action_targets()
            unseen = [a for a, cell in targets.items() if not self.session.seen(cell)]
            if unseen:
                q = self.policy.q_values(self.obs)
                action = max(unseen, key=q.__getitem__)
                self.pending = ("step", action)
                return targets[action]
        # the start, or every neighbour is known: (re)start from a fresh sample
        self.pending = ("reset", int(self.rng.integers(2**63)))
        return self.space.sample(self.rng)

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        if not self.session.seen(cell):
            self.told.tell(result)
        assert self.pending is not None
        kind, argument = self.pending
        self.pending = None
        if kind == "reset":
            self.obs, _ = self.env.reset(seed=argument, options={"session": self.session, "cell": cell})
        else:
            self.obs, *_ = self.env.step(argument)
