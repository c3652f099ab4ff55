"""A general policy as a search strategy: `learned:NAME[:EDITS]` (a policy file or a shipped policy's name;
EDITS is how an edit is picked once the network has chosen to edit: `greedy` (the default) the network's
own, `uniform` one drawn at random (`GeneralPolicy.act`), `guided` one drawn among the edits to unseen
cells by a score model fitted on the run's results (`rlnas.env.edit_guide`), which also picks most of
the network's fresh samples among a few of the space's samples and mutants of the run's best cells; a
guided run starts with `EditGuideConfig.initial_samples` fresh samples, a random design for the model,
and the policy acts from their best).

The protocol is the training episode itself (`rlnas.env.search_episode`): the strategy runs a
`SearchEpisodeEnv` whose only task is the runner's search, over `ToldResults`, so that every step
moves to a cell the runner evaluates. It asks the cell of its greedy action (an edit of the
current cell, a return to an elite, or a fresh sample) and steps when told the result; the start
of the search is a sample of the space's default sampler, and ops are relabelled to random slots
per run from the run's generator, as in training. Revisits are free for the runner and cost a step
of the episode's step cap, as in training; when the cap ends an episode before the budget, a new
episode starts at a fresh sample with the run's memory (its history) kept.

The budget is in the state, so the strategy must know it: the runner sets `Strategy.budget` to the
run's budget before `start`; `LearnedSearch(policy, budget=N)` gives it outside the runner. A run
without a budget of architectures (seconds only) assumes the largest budget of the policy's
training tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rlnas.benchmarks import Evaluation, ToldResults
from rlnas.cells import Cell
from rlnas.env.edit_guide import EditGuide, EditGuideConfig
from rlnas.errors import RlnasError
from rlnas.spaces import SearchSpace
from rlnas.strategies.base import Strategy

if TYPE_CHECKING:
    from rlnas.agents.general_policy import GeneralPolicy


class LearnedSearch(Strategy):
    name = "learned"

    def __init__(
        self,
        policy: str | Path | GeneralPolicy | None = None,
        budget: int | None = None,
        edits: str = "greedy",
        guide: EditGuideConfig | None = None,
    ):
        from rlnas.agents.general_policy import EDIT_CHOICES, GeneralPolicy  # torch, only when one is made

        if policy is None:
            raise RlnasError("the learned strategy needs a general policy: use learned:NAME (a policy file or name)")
        if budget is not None and budget < 1:
            raise RlnasError(f"the learned strategy's budget must be at least 1 architecture, got {budget}")
        if isinstance(policy, str) and ":" in policy and not Path(policy).exists():
            policy, edits = policy.rsplit(":", 1)
        if edits not in EDIT_CHOICES:
            raise RlnasError(f"unknown edit choice {edits!r} in learned:NAME:EDITS; choose {', '.join(EDIT_CHOICES)}")
        if guide is not None and edits != "guided":
            raise RlnasError(f"the guide's settings are for learned:NAME:guided, not {edits} edits; add :guided")
        self.policy = policy if isinstance(policy, GeneralPolicy) else GeneralPolicy.load(policy)
        self.budget = budget
        self.edits = edits
        self.guide_config = guide or EditGuideConfig()

    @property
    def training_seed(self) -> int | None:
        return self.policy.info.get("seed")

    @property
    def trained_on(self) -> list[str]:
        """The benchmarks of the policy's training tasks: results there are in-distribution."""
        return sorted({t["benchmark"] for t in self.policy.trained_on})

    @property
    def fingerprint(self) -> str:
        return self.policy.fingerprint

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        from rlnas.env.search_episode import SearchEpisodeEnv, Task

        super().start(space, rng)
        self.told = ToldResults(space)
        self.session = self.told.session()
        budget = self.budget or self.policy.max_training_budget
        # the reward is not used when searching, so its scale is arbitrary
        self.env = SearchEpisodeEnv(Task(self.told, (budget, budget), scale=(0.0, 1.0)), self.policy.episode)
        self.edit_guide = EditGuide(len(space.op_names), self.guide_config)
        self.obs: dict[str, np.ndarray] | None = None
        self.pending: tuple[str, int] | None = None  # ("reset", seed), ("step", action) or ("sample", 0)
        self.moves: dict[str, int] = {}  # moves by kind (edits, returns to an elite, fresh samples)

    def ask(self) -> Cell | None:
        if self.pending is not None:
            return None
        if self.obs is None:  # the start, or an episode cut by its step cap: a fresh sample
            design = self.edits == "guided" and self.session.unique_queries + 1 < self.edit_guide.config.initial_samples
            self.pending = ("sample", 0) if design else ("reset", int(self.rng.integers(2**63)))
            return self.space.sample(self.rng)
        action = self.choose(self.obs)
        self.pending = ("step", action)
        kind = f"moves_{self.env.move_kind(action)}"
        self.moves[kind] = self.moves.get(kind, 0) + 1
        guided_sample = action == 0 and self.edits == "guided"
        fresh = self.edit_guide.choose_sample(self.session, self.space, self.rng) if guided_sample else None
        return self.env.propose(action, fresh)

    def overhead(self) -> dict[str, float | int]:
        """The moves of this run by kind (`moves_op_change`, ..., `moves_return_elite`,
        `moves_fresh_sample`): what the policy does, summed over runs in summary.json."""
        return dict(self.moves)

    def choose(self, obs: dict[str, np.ndarray]) -> int:
        """The action to step with: the policy's (`agent+predictor` screens the policy's best)."""
        if self.edits != "guided":
            return self.policy.act(obs, self.rng if self.edits == "uniform" else None)
        action = self.policy.act(obs)
        if action < self.policy.episode.first_edit or not (targets := self.env.unseen_edit_targets()):
            return action
        return self.edit_guide.choose(self.session.history, targets, self.rng)

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        if not self.session.seen(cell):
            self.told.tell(result)
        if self.pending is None:
            raise RlnasError("the learned strategy was told a result it did not ask for")
        kind, argument = self.pending
        self.pending = None
        if kind == "reset":
            budget = self.budget or self.policy.max_training_budget
            if self.session.unique_queries >= budget:  # a spec without the runner's budget: go on
                budget = self.session.unique_queries + self.policy.max_training_budget
            if self.edits == "guided" and 0 < self.session.unique_queries < self.edit_guide.config.initial_samples:
                self.session.query(cell)
                cell = self.session.best.cell  # the end of the random design: start from its best
            options = {"session": self.session, "cell": cell, "budget": budget}
            self.obs, _ = self.env.reset(seed=argument, options=options)
        elif kind == "sample":
            self.session.query(cell)  # a cell of the random design, in the run's memory
        elif kind == "step":
            self.obs, _, terminated, truncated, _ = self.env.step(argument)
            if terminated or truncated:
                self.obs = None
