"""The learned policy as a search strategy: `agent:DIR` in `rlnas compare`, and `rlnas search`.

Protocol. The agent starts from a cell of the space's default sampler and, at every step, takes
the action with the highest Q-value among those that lead to a cell not queried yet in this run;
so it follows its greedy action whenever that reaches a new cell, and never cycles or re-walks
seen cells. Every new cell costs one query of the budget; the start cell too. When no valid edit
of the current cell leads to an unseen cell, it restarts from a fresh sample. Episodes are
chained: when the walk outlasts the training horizon, the environment is reset at the current
cell, so the context (budget left, best so far) looks as it did in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rlnas.agents.policy import Policy, load_policy
from rlnas.benchmarks import QuerySession
from rlnas.errors import RlnasError
from rlnas.strategies.base import Strategy


class AgentSearch(Strategy):
    name = "agent"

    def __init__(self, policy: str | Path | Policy | None = None):
        if policy is None:
            raise RlnasError("the agent strategy needs a trained policy: use agent:DIR (a folder of rlnas train)")
        self.policy = policy if isinstance(policy, Policy) else load_policy(policy)

    @property
    def training_seed(self) -> int | None:
        """The seed the policy was trained with; evaluations must use other seeds."""
        return self.policy.info.get("config", {}).get("seed")

    def search(self, session: QuerySession, rng: np.random.Generator) -> None:
        torch.set_num_threads(1)  # one core per search run; parallelism is across runs
        space = session.benchmark.space
        env = self.policy.make_env(session.benchmark)
        while not session.exhausted:
            obs, _ = env.reset(seed=int(rng.integers(2**63)), options={"session": session, "cell": space.sample(rng)})
            while not session.exhausted:
                if env.t >= env.horizon:
                    obs, _ = env.reset(options={"session": session, "cell": env.cell})
                unseen = [a for a, cell in env.action_targets().items() if not session.seen(cell)]
                if not unseen:
                    break  # every neighbour is known: restart from a fresh sample
                q = self.policy.q_values(obs)
                obs, *_ = env.step(max(unseen, key=q.__getitem__))
