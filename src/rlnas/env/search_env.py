"""The search MDP as a Gymnasium environment: the agent edits a cell step by step.

State. The current cell, as padded vertex tokens (see `encode_cell`), plus a small context
vector and the validity mask of the actions. Nothing here depends on the number of vertices: the
padding length is the space's `max_vertices` (7 for NB101, 11 for converted NB201 cells), and the
action layout is the space's own (`space.edit_layout`, `space.edits`). Spaces of several cells
(DARTS) are refused: `rlnas.env.search_episode` serves them.

Actions. One `Discrete(space.num_edits)`, laid out by the space over the neighbour rules (op
change, edge toggle, vertex insertion, vertex removal with edge regeneration; NB201 has op
changes only). `space.edits(cell)` yields the valid edits; every other index is masked (0 in
`obs["action_mask"]` and `info["action_mask"]`). A masked action is a documented no-op: the cell
stays, the step still counts towards the horizon, its reward is computed as for a step to the
same cell and `info["invalid_action"]` is True. Pass `strict=True` to raise `InvalidActionError`
instead. (Gymnasium's `check_env` steps with unmasked random actions, so the no-op is the default.)

Episodes. `reset` draws the start cell from the space's default sampler (`space.sample`, the
matched sampler for NB101) with the env's seeded generator, or takes `options={"cell": ...}`.
Every cell the agent reaches is queried through one `QuerySession` per episode, so a step back to
a cell seen earlier in the episode costs no new query (`info["unique_queries"]` counts them).
An episode ends only by its horizon, as a truncation (`terminated` is always False), so a
learner must bootstrap from the last observation: the search goes on beyond the time limit.

Reward. With `s(c) = shape_reward(accuracy(c), alpha, shaping)` (both shaping forms of
`rlnas.rewards`, alpha = 6 by default as for NB101), two definitions are offered:

* ``"score"`` (default): the reward of a step is `s` of the cell it reaches. This is the shaped
  accuracy reward of Cassimon, Mercelis and Mets (2024). Its Q-values rank the neighbours of a
  cell by how good they are and how good the region behind them is, which is exactly what a
  greedy searcher needs when it picks the best unseen neighbour with few queries; the sharpness
  alpha makes the gaps between good and very good cells, where the search is decided, large
  enough to learn. Every step gives a dense
  signal, so the agent learns quickly on two cores.
* ``"improvement"``: the reward is the improvement of the episode's best shaped score,
  `max(0, s(c_t+1) - best_t)`; the return of an episode telescopes to the best shaped score it
  found minus that of its start, so this reward values only finding a better cell, early (with
  gamma < 1). The best score so far is part of the state (context), so the reward stays Markov.
  It is sparser and therefore slower to learn; it is offered for the robustness study.

On NB101 the score reward found better cells with fewer queries than the improvement reward
(the measurement is in the README, Decisions: the MDP), hence the default.

Context (float32, all in [-1, 1]): budget left (fraction of the horizon), shaped score of the
current cell, best shaped score of the episode, their difference, the current cell's vertex
count over `max_vertices`, the unique queries of the episode over the horizon, and whether the
current cell was new when reached. All randomness (start cells, the session's generator) comes
from the generator seeded by `reset(seed=...)`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlnas.benchmarks import Benchmark, QuerySession
from rlnas.cells import Cell
from rlnas.cells.encoding import encode_padded
from rlnas.errors import RlnasError
from rlnas.rewards import SHAPING_FORMS, shape_reward

#: Op k is token OP_OFFSET + k (`rlnas.cells.encoding`): single-input spaces only, no second-input token.
OP_OFFSET = 4
CONTEXT_FIELDS = (
    "budget_left",
    "current_shaped",
    "best_shaped",
    "current_minus_best",
    "vertex_fraction",
    "queries_fraction",
    "current_is_new",
)
CONTEXT_SIZE = len(CONTEXT_FIELDS)
REWARDS = {
    "score": "the shaped accuracy of the cell a step reaches",
    "improvement": "the improvement of the episode's best shaped accuracy",
}
#: Bound on the per-env cache of edit lists (cells revisited across steps and episodes).
_EDIT_CACHE_SIZE = 20_000


class InvalidActionError(RlnasError):
    """A masked (invalid) action given to an environment created with `strict=True`."""


def num_tokens(space) -> int:
    """Size of the token vocabulary of a space: padding, input, output, sum and its ops."""
    return OP_OFFSET + len(space.op_names)


def encode_cell(cell: Cell, max_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(op tokens, adjacency, vertex mask) of a cell, padded to `max_vertices`; new arrays."""
    return encode_padded(cell, max_vertices, OP_OFFSET)


class ArchitectureSearchEnv(gym.Env):
    """Edit a cell of `benchmark.space` for `horizon` steps; reward: shaped accuracy (see module doc)."""

    metadata: ClassVar[dict] = {"render_modes": ["ansi"]}

    def __init__(
        self,
        benchmark: Benchmark,
        horizon: int = 32,
        alpha: float = 6.0,
        shaping: str = "power",
        reward: str = "score",
        strict: bool = False,
        render_mode: str | None = None,
    ):
        if horizon < 1:
            raise RlnasError(f"the episode horizon must be at least 1 step, got {horizon}")
        if alpha <= 0:
            raise RlnasError(f"the reward sharpness alpha must be positive, got {alpha}")
        if shaping not in SHAPING_FORMS:
            raise RlnasError(f"unknown reward shaping {shaping!r}; choose one of {', '.join(SHAPING_FORMS)}")
        if reward not in REWARDS:
            raise RlnasError(f"unknown reward {reward!r}; choose one of {', '.join(REWARDS)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise RlnasError(f"unknown render mode {render_mode!r}; choose ansi or none")
        cells = benchmark.space.edit_layout.num_cells
        if cells > 1:  # its encoding holds one cell (reset would fail on the first architecture)
            raise RlnasError(
                f"this environment edits one-cell architectures and {benchmark.name}'s have {cells} cells; "
                "search it with the search episode (rlnas.env.search_episode.SearchEpisodeEnv, a general policy)"
            )
        self.benchmark = benchmark
        self.space = benchmark.space
        self.horizon = int(horizon)
        self.alpha = float(alpha)
        self.shaping = shaping
        self.reward_kind = reward
        self.strict = strict
        self.render_mode = render_mode
        self.max_vertices = int(self.space.max_vertices)
        self.num_edits = int(self.space.num_edits)
        v = self.max_vertices
        self.observation_space = spaces.Dict(
            {
                "ops": spaces.Box(0, num_tokens(self.space) - 1, shape=(v,), dtype=np.int8),
                "adjacency": spaces.Box(0, 1, shape=(v, v), dtype=np.int8),
                "vertex_mask": spaces.Box(0, 1, shape=(v,), dtype=np.int8),
                "context": spaces.Box(-1.0, 1.0, shape=(CONTEXT_SIZE,), dtype=np.float32),
                "action_mask": spaces.Box(0, 1, shape=(self.num_edits,), dtype=np.int8),
            }
        )
        self.action_space = spaces.Discrete(self.num_edits)
        self._edit_cache: dict[tuple, tuple[np.ndarray, dict[int, Cell], tuple]] = {}
        self.session: QuerySession | None = None
        self.cell: Cell | None = None

    # ------------------------------------------------------------------ helpers
    def shaped(self, accuracy: float) -> float:
        return float(shape_reward(accuracy, self.alpha, self.shaping))

    def _edits_of(self, cell: Cell) -> tuple[np.ndarray, dict[int, Cell], tuple]:
        """Validity mask, edit index -> resulting cell, and the cell's encoding; cached per cell."""
        form = (cell.rows, cell.ops)
        cached = self._edit_cache.get(form)
        if cached is None:
            targets = dict(self.space.edits(cell))
            mask = np.zeros(self.num_edits, dtype=np.int8)
            mask[list(targets)] = 1
            cached = (mask, targets, encode_cell(cell, self.max_vertices))
            if len(self._edit_cache) >= _EDIT_CACHE_SIZE:
                self._edit_cache.clear()
            self._edit_cache[form] = cached
        return cached

    def action_targets(self) -> dict[int, Cell]:
        """Valid action -> the (pruned) cell it leads to, for the current cell; a read-only cached dict.

        A searcher can use it with `session.seen(cell)` to skip actions that lead to seen cells.
        """
        return self._current[1]

    def _observation(self) -> dict[str, np.ndarray]:
        mask, _, (tokens, adjacency, vertex_mask) = self._current
        context = np.array(
            [
                (self.horizon - self.t) / self.horizon,
                self.current_shaped,
                self.best_shaped,
                self.current_shaped - self.best_shaped,
                self.cell.num_vertices / self.max_vertices,
                min(1.0, self.session.unique_queries / self.horizon),
                float(self.current_is_new),
            ],
            dtype=np.float32,
        )
        return {
            "ops": tokens.copy(),
            "adjacency": adjacency.copy(),
            "vertex_mask": vertex_mask.copy(),
            "context": context,
            "action_mask": mask.copy(),
        }

    def _info(self, **extra: Any) -> dict[str, Any]:
        return {
            "action_mask": self._current[0].copy(),
            "score": self.current_score,
            "best_score": self.best_score,
            "best_shaped": self.best_shaped,
            "unique_queries": self.session.unique_queries,
            **extra,
        }

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode from a sampled cell; `options` may give a start `cell` and a `session`."""
        super().reset(seed=seed)
        options = options or {}
        session = options.get("session")
        if session is None:
            session_rng = np.random.default_rng(self.np_random.integers(2**63))
            session = self.benchmark.session(budget=None, rng=session_rng)
        self.session = session
        start = options.get("cell")
        cell = self.space.validate(start) if start is not None else self.space.sample(self.np_random)
        result = session.query(cell)
        self.t = 0
        self.cell = cell
        self.current_score = result.score
        self.current_shaped = self.shaped(result.score)
        self.best_score = result.score
        self.best_shaped = self.current_shaped
        self.current_is_new = True
        self._current = self._edits_of(cell)
        return self._observation(), self._info(cell=cell)

    def step(self, action):
        if self.session is None:
            raise RlnasError("call reset() before step()")
        if self.t >= self.horizon:
            raise RlnasError(f"the episode ended at its horizon of {self.horizon} steps; call reset()")
        index = int(action)
        target = self._current[1].get(index)
        invalid = target is None
        if invalid:
            if self.strict:
                raise InvalidActionError(
                    f"action {index} is masked for the current cell ({len(self._current[1])} valid of "
                    f"{self.num_edits}); choose an action with obs['action_mask'] == 1"
                )
            target = self.cell
        before = self.session.unique_queries
        result = self.session.query(target)
        self.t += 1
        self.cell = target
        self.current_is_new = self.session.unique_queries > before
        self.current_score = result.score
        self.current_shaped = self.shaped(result.score)
        previous_best = self.best_shaped
        if self.current_shaped > self.best_shaped:
            self.best_shaped = self.current_shaped
            self.best_score = result.score
        reward = self.current_shaped if self.reward_kind == "score" else self.best_shaped - previous_best
        self._current = self._edits_of(target)
        truncated = self.t >= self.horizon
        info = self._info(cell=target, invalid_action=invalid, new=self.current_is_new)
        return self._observation(), float(reward), False, truncated, info

    def render(self):
        if self.render_mode == "ansi":
            return (
                f"step {self.t}/{self.horizon}  score {self.current_score:.4f}  best {self.best_score:.4f}  "
                f"queries {self.session.unique_queries}  cell {self.space.describe(self.cell)}"
            )
        return None
