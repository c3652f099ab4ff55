"""A general policy screened by a performance predictor: `agent+predictor:NAME[:PREDICTOR]`.

The search is `learned:NAME`'s (`rlnas.strategies.learned`): a `SearchEpisodeEnv` over the
runner's results, one action per step. At each step the policy proposes its `num_candidates` best
valid actions by Q, and the predictor picks among the new architectures they lead to:

- when the policy's greedy action leads to a known cell (a return to an elite, an edit back to a
  queried cell), it is followed: the move is free, and where to stand is the policy's decision;
- otherwise each of the top actions whose cell is unseen (isomorphic duplicates once) is a
  candidate, ranked by the acquisition function of the predictor's mean and spread (`its` by
  default, as `bananas`); the best is the action the episode steps with and the cell the runner
  queries.

The predictor (`path` or `gin`) is refitted from scratch on every result of the run once there are
`min_train`, and again after every `refit_every` new ones; before that the policy acts alone, so
the first `min_train` cells are exactly `learned:NAME`'s. The predictor and acquisition are
`bananas`' (`rlnas.strategies.acquisition`); their wall and CPU time, and how often the predictor
overruled the policy, are in `overhead()`, free in the query budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rlnas.cells import Arch, Cell
from rlnas.errors import ConfigError
from rlnas.predictors import PREDICTORS
from rlnas.spaces import SearchSpace
from rlnas.strategies.acquisition import GuidanceConfig, GuidedPredictor
from rlnas.strategies.learned import LearnedSearch

if TYPE_CHECKING:
    from rlnas.agents.general_policy import GeneralPolicy

SPEC = "agent+predictor:NAME or agent+predictor:NAME:PREDICTOR (a general policy file or shipped name; path or gin)"


@dataclass(frozen=True)
class AgentPredictorConfig(GuidanceConfig):
    """Every setting of `agent+predictor` (the predictor and acquisition ones in `GuidanceConfig`)."""

    num_candidates: int = 10
    """The policy's best valid actions by Q whose unseen cells the predictor ranks at each step
    (NB201 has 24 edits, NB101 up to about 100); 1 is the policy alone."""
    min_train: int = 10
    """Results before the first fit; until then the policy acts alone."""
    refit_every: int = 10
    """New results between fits (1: after every result). Fits run at the step that needs them."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_candidates", "refit_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"agent+predictor setting {name} must be at least 1, got {getattr(self, name)}")
        if self.min_train < 2:
            raise ConfigError(f"agent+predictor setting min_train must be at least 2, got {self.min_train}")


def parse_spec(argument: str) -> tuple[str, str | None]:
    """(policy, predictor) of `NAME` or `NAME:PREDICTOR`; a policy path with a colon stays whole."""
    name, colon, predictor = argument.rpartition(":")
    if colon and name and predictor in PREDICTORS:
        return name, predictor
    if colon and not Path(argument).exists():
        raise ConfigError(
            f"agent+predictor:{argument}: {predictor!r} is no predictor; write {SPEC}, e.g. agent+predictor:general:gin"
        )
    return argument, None


class AgentPredictorSearch(LearnedSearch):
    """`learned:NAME` with each new query chosen among the policy's best actions by a predictor."""

    name = "agent+predictor"

    def __init__(
        self,
        policy: str | Path | GeneralPolicy | None = None,
        budget: int | None = None,
        config: AgentPredictorConfig | None = None,
    ):
        if policy is None:
            raise ConfigError(f"the agent+predictor strategy needs a general policy: {SPEC}")
        config = config or AgentPredictorConfig()
        if isinstance(policy, str):
            policy, predictor = parse_spec(policy)
            config = replace(config, predictor=predictor, predictor_settings=None) if predictor else config
        super().__init__(policy, budget)
        self.config = config

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        self.guide = GuidedPredictor(space, self.config)
        self._fitted_on = 0  # results in the last fit
        self._screening = {"steps_screened": 0, "policy_overruled": 0}

    def overhead(self) -> dict[str, float | int]:
        """The predictor's cost in this run (free in the query budget): fits, wall and CPU seconds
        fitting, the same mapping and ranking candidates, candidates ranked; and the steps the
        predictor ranked candidates at, and how many of them it chose another than the policy's
        greedy action; and the moves by kind, as `learned`'s."""
        return super().overhead() | self.guide.timings | self._screening

    def choose(self, obs: dict[str, np.ndarray]) -> int:
        q = self.policy.q_values(obs)
        greedy = int(q.argmax())
        history = self.session.history
        if len(history) < self.config.min_train or obs["action_seen"][greedy]:
            return greedy  # the policy alone, or a free move to a known cell
        if self._fitted_on == 0 or len(history) - self._fitted_on >= self.config.refit_every:
            self.guide.fit([e.cell for e in history], [e.score for e in history], self.rng)
            self._fitted_on = len(history)
        with self.guide.timed("rank"):
            actions, cells = self._candidates(q, obs)
            if greedy not in actions:  # its cell (a fresh sample) turned out to be known
                return greedy
            chosen = greedy
            if len(cells) > 1:
                best = max(e.score for e in history)
                chosen = actions[int(self.guide.order(cells, best, self.rng)[0])]
        self._screening["steps_screened"] += 1
        self._screening["policy_overruled"] += chosen != greedy
        return chosen

    def _candidates(self, q: np.ndarray, obs: dict[str, np.ndarray]) -> tuple[list[int], list[Cell | Arch]]:
        """The best unseen-leading actions by Q and their (pruned) cells, isomorphic duplicates once.

        A fresh sample (action 0) is drawn last, so that it is the env's pending proposal when chosen.
        """
        top = [int(a) for a in np.argsort(-q, kind="stable")[: self.config.num_candidates] if np.isfinite(q[a])]
        top = sorted((a for a in top if not obs["action_seen"][a]), key=lambda a: (a == 0, -q[a]))
        actions, cells, identities = [], [], set()
        for action in top:
            cell = self.env.propose(action)
            pruned = cell.prune() or cell
            identity = self.told.identity(pruned)
            if identity not in identities and not self.session.seen(cell):
                identities.add(identity)
                actions.append(action)
                cells.append(pruned)
        return actions, cells
