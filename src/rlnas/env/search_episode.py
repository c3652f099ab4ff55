"""The search as one episode: a whole search on a task, as it is run (docs/search_episode.md).

Episode. `reset` draws a task (a benchmark and a budget range) and a budget (log-uniform in the
range: tens to hundreds of unique queries), relabels the space's ops (see below) and queries a
start cell from the space's default sampler. Every step moves to a cell; a new cell costs one
query of the budget, a known one (revisit) costs nothing but a step of the step cap
(`step_cap` steps per unit of budget), so that a policy that circles among known cells cannot
loop forever. The episode terminates when the budget is spent (the search is over: the budget
left is in the state, so nothing is bootstrapped past it) and is truncated at the step cap.

Reward. The improvement of the shaped best score so far, `s(best_t+1) - s(best_t)`, with
`s(x) = shape_reward(clip((x - lo) / (hi - lo), 0, 1), alpha, shaping)` and (lo, hi) the median and
the maximum of the task's reference scores (the whole table where the benchmark has one, else
`reference_samples` sampled cells): one scale for tasks whose raw scores differ. The return
telescopes to the final shaped best minus the start cell's (which the policy does not choose).
Revisits gain nothing.

Actions (`Discrete(1 + num_elites + max_edits)`): 0 draws a fresh sample, 1..K return to elite
k-1 (the run's k-th best cell), and 1 + K + e is edit e of the space's published layout
(`space.edit_layout`) applied to the current cell. `obs["action_mask"]` marks the valid ones; a
masked action is a documented no-op that costs a step (`strict=True` raises instead), as
Gymnasium's `check_env` steps with unmasked random actions. With `unseen_edits_only` the edits to
cells the run has queried are masked too, so that every edit is a query and only a return to an
elite goes back to a known cell: a policy then cannot circle among known cells, and a greedy policy
that returns to the best and edits it is local search (`local_search_action`). With
`keep_better_only` an edit moves only when it improves on the current cell (local search's accept
rule), so a policy that merely edits is a hill-climber from wherever it stands. `obs["action_args"]` says what every
action is, in terms of the tokens, so that one network reads any space: (kind, u, v, op slot),
kind in `ACTION_KINDS`; for edits u and v are the token positions of the layout's vertex and
other vertex (-1 for none); for a return to elite k, u = max_vertices + k; for a fresh sample,
u = max_vertices + num_elites. `obs["action_seen"]` marks the actions that lead to a known cell.

State: the run's memory, padded to fixed sizes so that one network and one replay serve every
space. Vertex tokens of the current architecture and of the K elites (group 0 and 1..K), each
group's cells one after the other (`cell_of`, `position` within the cell, block-diagonal
`adjacency`); per elite its features (`ELITE_FIELDS`); the `CONTEXT_FIELDS`; and the effect of
the last `recent_edits` moves (`RECENT_FIELDS`, with the op slot each one set).

Scores enter the state only as ranks among the scores the run has observed, so a policy works on
score scales it has never seen, and its trajectory is exactly the same under any strictly
increasing transform of the scores (and changes when their order changes). A monotone transform
is therefore no augmentation here; noise on the observed scores (`Task.noise`) is.

Op identity as slots: per episode the space's ops are mapped to `op_slots` slots by a random
injection (`relabel_ops=True`), so the token of an op says nothing by itself and a policy must
infer what an op does from the scores it observes. `relabel_kinds=True` does the same to the edit
kinds (the first argument of an edit action and the kind of a recent move): the observation then
shows a kind slot, and `move_kind` says what the action really does.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlnas.benchmarks import Benchmark, Evaluation, QuerySession
from rlnas.cells import Arch, Cell
from rlnas.cells.encoding import OPS_START, SPECIAL_TOKENS
from rlnas.env.search_env import InvalidActionError
from rlnas.errors import ConfigError, RlnasError, check_finite, kind_in_words
from rlnas.rewards import SHAPING_FORMS, shape_reward
from rlnas.spaces.layout import EDIT_KINDS, NONE

ACTION_KINDS = (*EDIT_KINDS, "return_elite", "fresh_sample")
RETURN_ELITE, FRESH_SAMPLE = len(EDIT_KINDS), len(EDIT_KINDS) + 1
#: Token ids: 0 pads, then the special vertex labels, then op slot s is SLOT_OFFSET + s.
SLOT_OFFSET = OPS_START
CONTEXT_FIELDS = (
    "budget_left_fraction",
    "budget_left_log",
    "budget_log",
    "since_improvement_fraction",
    "since_improvement_log",
    "steps_left_fraction",
    "current_rank",
    "current_is_new",
    "current_is_best",
    "stuck_fraction",
    "known_neighbour_fraction",
    "vertex_fraction",
)
CURRENT_IS_BEST = CONTEXT_FIELDS.index("current_is_best")
KNOWN_NEIGHBOURS = CONTEXT_FIELDS.index("known_neighbour_fraction")
ELITE_FIELDS = ("present", "rank", "found_fraction", "is_current", "known_neighbour_fraction")
ELITE_PRESENT, ELITE_IS_CURRENT = ELITE_FIELDS.index("present"), ELITE_FIELDS.index("is_current")
ELITE_KNOWN_NEIGHBOURS = ELITE_FIELDS.index("known_neighbour_fraction")
RECENT_FIELDS = (*(f"kind_{k}" for k in ACTION_KINDS), "present", "rank_change", "new", "improved")
#: Budgets and waits are also given on a log scale relative to this many queries.
LOG_SCALE = 1000


@dataclass(frozen=True)
class Task:
    """One kind of episode: a benchmark and the range its budgets are drawn from."""

    benchmark: Benchmark
    budget: tuple[int, int] = (20, 200)
    """Fewest and most unique queries of an episode; drawn log-uniformly per episode."""
    scale: tuple[float, float] | None = None
    """(lo, hi) of the reward's score scale; None: the median and maximum of the reference scores."""
    noise: float = 0.0
    """Standard deviation of Gaussian noise on the scores the policy observes, in units of hi - lo
    (an augmentation: the reward is paid on the true scores)."""

    def __post_init__(self) -> None:
        low, high = self.budget
        if not 1 <= low <= high:
            raise ConfigError(
                f"{self.name}: a task's budget is [lowest, highest], 1 <= lowest <= highest, not {self.budget}"
            )
        try:
            size = len(self.benchmark.all_scores())
        except RlnasError:  # no table: no limit known
            return
        if high > size:
            raise ConfigError(
                f"{self.name} holds {size:,} architectures, fewer than its task's highest budget {high:,}; lower it"
            )

    @property
    def name(self) -> str:
        return self.benchmark.name


@dataclass(frozen=True)
class EpisodeConfig:
    """The episode's rules and the fixed sizes of its observation (shared by every space)."""

    num_elites: int = 3
    """K: elite cells in the state, and return-to-elite actions."""
    recent_edits: int = 4
    """Moves whose observed effect is in the state."""
    max_vertices: int = 30
    """Vertex tokens per architecture (all its cells): 30 fits DARTS' two 15-vertex cells."""
    max_edits: int = 200
    """Edit actions: at least the largest `num_edits` of the spaces served (DARTS: 192)."""
    op_slots: int = 10
    """Op slots: at least the most ops of the spaces served (NAS-Bench-Graph: 9)."""
    step_cap: float = 3.0
    """Steps (revisits included) per unit of budget before the episode is truncated."""
    alpha: float = 3.0
    """Sharpness of the reward shaping of the normalised score."""
    shaping: str = "power"
    """Shaping form (`rlnas.rewards.SHAPING_FORMS`)."""
    relabel_ops: bool = True
    """Map the ops to random slots per episode (op identity as slots); False: op k is slot k."""
    relabel_kinds: bool = False
    """Map the edit kinds to random kind slots per episode, as the ops: a kind the policy never trained
    on (NB101's insert, say, for a policy trained on NAS-Bench-201's op changes) then reads as kinds it
    did, and what an edit does is inferred from the vertices it names and the scores it brings."""
    keep_better_only: bool = False
    """Local search's accept rule: an edit to a new cell that scores no better than the current one (as
    observed) is queried, and seen in the recent moves, but the current cell stays; returns, fresh
    samples and improving edits move."""
    unseen_edits_only: bool = False
    """Mask the edits that lead to a cell the run has queried: every edit costs a query, a return to
    an elite is the only way back to a known cell, and a policy cannot circle among known cells."""
    reference_samples: int = 2000
    """Sampled cells that set the reward scale of a benchmark without a table of every score."""

    def __post_init__(self) -> None:
        """One line for a bad value (a task file's [episode] table is typed by hand), before anything runs."""
        check_finite(self)
        for field in fields(self):
            value, kind = getattr(self, field.name), type(field.default)
            if type(value) is not kind and not (kind is float and type(value) is int):
                raise ConfigError(f"[episode] {field.name} must be {kind_in_words(kind)}, got {value!r}")
        sizes = ("num_elites", "recent_edits", "max_vertices", "max_edits", "op_slots", "reference_samples")
        if min(getattr(self, name) for name in sizes) < 1:
            raise ConfigError(f"[episode] {', '.join(sizes)} must be at least 1")
        if self.max_vertices + self.num_elites > 127:
            raise ConfigError("[episode] max_vertices + num_elites must stay below 128 (action arguments are int8)")
        if self.step_cap < 1 or self.alpha <= 0:
            raise ConfigError(
                f"[episode] step_cap must be at least 1 and alpha positive, got {self.step_cap} and {self.alpha}"
            )
        if self.shaping not in SHAPING_FORMS:
            raise ConfigError(f"[episode] shaping must be one of {', '.join(SHAPING_FORMS)}, got {self.shaping!r}")

    @property
    def first_edit(self) -> int:
        """The action of edit 0 of the layout: after the fresh sample (0) and the K returns (1..K)."""
        return 1 + self.num_elites

    @property
    def num_actions(self) -> int:
        return self.first_edit + self.max_edits


def log_uniform_budget(low: int, high: int, rng: np.random.Generator) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def benchmark_scores(benchmark: Benchmark, samples: int, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Every score of the benchmark's table, or those of `samples` cells drawn from `seed`; and whether it was
    the table."""
    try:
        return np.asarray(benchmark.all_scores(), dtype=np.float64), True
    except RlnasError:
        rng = np.random.default_rng(seed)
        return np.array([benchmark.evaluate(benchmark.space.sample(rng)).score for _ in range(samples)]), False


def reference_scale(benchmark: Benchmark, samples: int) -> tuple[float, float]:
    """(median, max) of the benchmark's scores: its table, or `samples` cells drawn with a fixed seed."""
    scores, _ = benchmark_scores(benchmark, samples)
    return float(np.median(scores)), float(scores.max())


def shaped_score(score: float, scale: tuple[float, float], config: EpisodeConfig) -> float:
    """The episode's shaped reward of a score: clipped to the task's (median, max) scale, then sharpened."""
    lo, hi = scale
    normalised = min(1.0, max(0.0, (score - lo) / (hi - lo))) if hi > lo else 1.0
    return float(shape_reward(normalised, config.alpha, config.shaping))


class _Edits(NamedTuple):
    mask: np.ndarray
    targets: dict[int, Cell | Arch]
    identities: dict[int, object]
    args: np.ndarray


def _cells(arch: Cell | Arch) -> tuple[Cell, ...]:
    return arch.cells if isinstance(arch, Arch) else (arch,)


def _unseen_edit_or_fresh_sample(obs: dict[str, np.ndarray], rng: np.random.Generator) -> int:
    """A uniformly drawn edit of the current cell to a cell the run has not queried, else a fresh sample."""
    first = 1 + len(obs["elites"])
    unseen = np.flatnonzero(obs["action_mask"][first:] & (1 - obs["action_seen"][first:]))
    return first + int(rng.choice(unseen)) if len(unseen) else 0


def local_search_action(obs: dict[str, np.ndarray], rng: np.random.Generator) -> int:
    """The action local search takes in a search episode (the teacher of `GeneralTrainConfig.teacher_envs`):
    back to the best cell when elsewhere, else a uniformly drawn edit to a cell the run has not queried,
    else (every neighbour of the best known) a fresh sample."""
    if obs["context"][CURRENT_IS_BEST] < 0.5 and obs["action_mask"][1]:
        return 1
    return _unseen_edit_or_fresh_sample(obs, rng)


def elite_search_action(obs: dict[str, np.ndarray], rng: np.random.Generator, switch: float = 0.2) -> int:
    """Local search from several elites, a small population as evolution keeps: with probability `switch`
    (and whenever the current cell is no elite) an elite is drawn, the k-th best with weight 2 ** -k, and
    the policy returns to it; otherwise a uniformly drawn edit of the current cell to a cell the run has not
    queried (a fresh sample when there is none). With `keep_better_only`, an edit that improves moves to a
    new elite."""
    present, is_current = obs["elites"][:, ELITE_PRESENT] > 0.5, obs["elites"][:, ELITE_IS_CURRENT] > 0.5
    if not is_current.any() or rng.random() < switch:
        elites = np.flatnonzero(present)
        weights = 2.0 ** -elites.astype(float)
        k = int(rng.choice(elites, p=weights / weights.sum()))
        if not is_current[k] and obs["action_mask"][1 + k]:
            return 1 + k
    return _unseen_edit_or_fresh_sample(obs, rng)


def elite_climb_action(obs: dict[str, np.ndarray], rng: np.random.Generator) -> int:
    """Hill-climbing from the elites in turn, then from fresh samples: a uniformly drawn edit of the current
    cell to a cell the run has not queried while it has one; once it has none, a return to the best elite
    whose neighbourhood the run has not all queried; when every elite's is spent, a fresh sample (from which
    the climb goes on). The kind of move is a function of the observation, so a greedy network can learn it
    exactly; with `keep_better_only` an edit moves only when it improves (first-improvement climbing)."""
    if obs["context"][KNOWN_NEIGHBOURS] < 1.0:
        return _unseen_edit_or_fresh_sample(obs, rng)
    elites = obs["elites"]
    open_ = (elites[:, ELITE_PRESENT] > 0.5) & (elites[:, ELITE_KNOWN_NEIGHBOURS] < 1.0)
    open_ &= obs["action_mask"][1 : 1 + len(elites)] > 0
    return 1 + int(np.argmax(open_)) if open_.any() else 0


#: The teachers of `GeneralTrainConfig.teacher`: how a demonstrating environment acts.
TEACHERS = {"local_search": local_search_action, "elites": elite_search_action, "climb": elite_climb_action}


class SearchEpisodeEnv(gym.Env):
    """A whole search per episode on tasks drawn from `tasks` (see the module doc)."""

    metadata: ClassVar[dict] = {"render_modes": ["ansi"]}

    def __init__(
        self,
        tasks: Sequence[Task] | Task | Benchmark,
        config: EpisodeConfig | None = None,
        strict: bool = False,
        render_mode: str | None = None,
    ):
        if isinstance(tasks, Benchmark):
            tasks = Task(tasks)
        self.tasks = (tasks,) if isinstance(tasks, Task) else tuple(tasks)
        self.config = c = config or EpisodeConfig()
        if not self.tasks:
            raise RlnasError("the search-episode environment needs at least one task")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise RlnasError(f"unknown render mode {render_mode!r}; choose ansi or none")
        for task in self.tasks:
            self._check_task(task)
        self.strict = strict
        self.render_mode = render_mode
        g, t, a = 1 + c.num_elites, c.max_vertices, c.num_actions
        int8 = np.int8
        self.observation_space = spaces.Dict(
            {
                "tokens": spaces.Box(0, SLOT_OFFSET + c.op_slots - 1, shape=(g, t), dtype=int8),
                "cell_of": spaces.Box(0, t - 1, shape=(g, t), dtype=int8),
                "position": spaces.Box(0, t - 1, shape=(g, t), dtype=int8),
                "adjacency": spaces.Box(0, 1, shape=(g, t, t), dtype=int8),
                "elites": spaces.Box(0.0, 1.0, shape=(c.num_elites, len(ELITE_FIELDS)), dtype=np.float32),
                "context": spaces.Box(0.0, 1.0, shape=(len(CONTEXT_FIELDS),), dtype=np.float32),
                "recent": spaces.Box(-1.0, 1.0, shape=(c.recent_edits, len(RECENT_FIELDS)), dtype=np.float32),
                "recent_slot": spaces.Box(-1, c.op_slots - 1, shape=(c.recent_edits,), dtype=int8),
                "action_args": spaces.Box(-1, t + c.num_elites, shape=(a, 4), dtype=int8),
                "action_mask": spaces.Box(0, 1, shape=(a,), dtype=int8),
                "action_seen": spaces.Box(0, 1, shape=(a,), dtype=int8),
            }
        )
        self.action_space = spaces.Discrete(a)
        self._scales: dict[int, tuple[float, float]] = {}
        self._edit_cache: dict[tuple, tuple] = {}
        self.session: QuerySession | None = None

    def _check_task(self, task: Task) -> None:
        c, space = self.config, task.benchmark.space
        layout = space.edit_layout
        low, high = task.budget
        if not 1 <= low <= high:
            raise RlnasError(f"task {task.name}: the budget range {task.budget} needs 1 <= low <= high")
        if layout.num_cells * layout.max_vertices > c.max_vertices:
            raise RlnasError(
                f"the {space.name} space has {layout.num_cells} x {layout.max_vertices} vertices; raise "
                f"max_vertices to at least {layout.num_cells * layout.max_vertices}"
            )
        if len(layout) > c.max_edits:
            raise RlnasError(f"the {space.name} space has {len(layout)} edits; raise max_edits to at least that")
        if len(space.op_names) > c.op_slots:
            raise RlnasError(f"the {space.name} space has {len(space.op_names)} ops; raise op_slots to at least that")

    # ------------------------------------------------------------------ scores
    def shaped(self, score: float) -> float:
        return shaped_score(score, self._scale, self.config)

    def rank(self, score: float) -> float:
        """Fraction of the run's observed scores below `score` (ties count half): invariant to monotone transforms."""
        below = bisect.bisect_left(self._sorted, score)
        equal = bisect.bisect_right(self._sorted, score) - below
        return (below + 0.5 * equal) / len(self._sorted)

    def _observe(self, result: Evaluation, identity: object, found: int) -> None:
        """Enter the run's `found`-th new result into its memory: the observed score (with the task's
        noise), ranks, elites, the observed best and the true best."""
        observed = result.score
        if self.task.noise:
            lo, hi = self._scale
            observed += self.task.noise * (hi - lo) * float(self._noise_rng.standard_normal())
        self._observed[identity] = observed
        bisect.insort(self._sorted, observed)
        elite = (observed, -found, identity, result.cell)
        if len(self._elites) < self.config.num_elites or elite[:2] > self._elites[-1][:2]:
            self._elites.append(elite)
            self._elites.sort(key=lambda e: e[:2], reverse=True)
            del self._elites[self.config.num_elites :]
        if observed > self._best_observed:
            self._best_observed = observed
            self._last_improvement = found
        if self.best is None or result.score > self.best.score:
            self.best = result

    # ------------------------------------------------------------------ encoding
    def _encode(self, arch: Cell | Arch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]:
        """(tokens, cell_of, position, adjacency, offsets of the cells) of an architecture; cached per form."""
        form = (arch.rows, arch.ops)
        cached = self._encodings.get(form)
        if cached is None:
            t = self.config.max_vertices
            tokens, cell_of, position = (np.zeros(t, dtype=np.int8) for _ in range(3))
            adjacency = np.zeros((t, t), dtype=np.int8)
            offsets, start = [], 0
            for c, cell in enumerate(_cells(arch)):
                n = cell.num_vertices
                offsets.append(start)
                labels = [SPECIAL_TOKENS.get(o, SLOT_OFFSET + self._slots[o] if o >= 0 else 0) for o in cell.ops]
                tokens[start : start + n] = labels
                cell_of[start : start + n] = c
                position[start : start + n] = np.arange(n)
                rows = np.asarray(cell.rows, dtype=np.int64)
                adjacency[start : start + n, start : start + n] = (rows[:, None] >> np.arange(n)) & 1
                start += n
            cached = (tokens, cell_of, position, adjacency, tuple(offsets))
            self._encodings[form] = cached
        return cached

    def _edits_of(self, arch: Cell | Arch) -> _Edits:
        """The edit actions of an architecture: validity, targets and their identities are cached per form
        across episodes (they depend on the space only), the action arguments per episode (op slots)."""
        key = (self.space.name, arch.rows, arch.ops)
        cached = self._edit_cache.get(key)
        if cached is None:
            first = self.config.first_edit
            targets = {first + index: target for index, target in self.space.edits(arch)}
            mask = np.zeros(self.config.num_actions, dtype=np.int8)
            mask[list(targets)] = 1
            identity = self.task.benchmark.identity
            identities = {action: identity(target.prune() or target) for action, target in targets.items()}
            cached = (mask, targets, identities)
            if len(self._edit_cache) >= 20_000:
                self._edit_cache.clear()
            self._edit_cache[key] = cached
        offsets = self._encode(arch)[4]
        args = self._args_cache.get(offsets)
        if args is None:
            args = self._args_cache[offsets] = self._edit_args(offsets)
        return _Edits(*cached, args)

    def unseen_edit_targets(self) -> dict[int, Cell | Arch]:
        """Edit action -> the cell it leads to, for the valid edits of the current cell to cells the run has
        not queried (what `rlnas.env.edit_guide.EditGuide` chooses among)."""
        edits = self._edits_of(self.cell)
        return {a: target for a, target in edits.targets.items() if edits.identities[a] not in self._observed}

    def _known_neighbour_fraction(self, arch: Cell | Arch) -> float:
        """Fraction of the cells one edit from `arch` that the run has queried (1: its neighbourhood is spent)."""
        identities = self._edits_of(arch).identities.values()
        return sum(i in self._observed for i in identities) / len(identities) if identities else 1.0

    def _edit_args(self, offsets: tuple[int, ...]) -> np.ndarray:
        """Action arguments of an architecture whose cells start at token `offsets` (module doc)."""
        first, layout = self.config.first_edit, self._layout
        args = self._global_args.copy()
        base = np.asarray(offsets, dtype=np.int16)[np.minimum(layout[:, 1], len(offsets) - 1)]
        edits = args[first : first + len(layout)]
        edits[:, 0] = self._kind_slots[layout[:, 0]]
        edits[:, 1] = base + layout[:, 2]
        edits[:, 2] = np.where(layout[:, 3] == NONE, NONE, base + layout[:, 3])
        edits[:, 3] = np.where(layout[:, 4] == NONE, NONE, self._slots_array[np.maximum(layout[:, 4], 0)])
        return args

    def _observation(self) -> dict[str, np.ndarray]:
        c = self.config
        g, t = 1 + c.num_elites, c.max_vertices
        tokens = np.zeros((g, t), dtype=np.int8)
        cell_of = np.zeros((g, t), dtype=np.int8)
        position = np.zeros((g, t), dtype=np.int8)
        adjacency = np.zeros((g, t, t), dtype=np.int8)
        elites = np.zeros((c.num_elites, len(ELITE_FIELDS)), dtype=np.float32)
        for k, arch in enumerate([self.cell, *(e[3] for e in self._elites)]):
            tokens[k], cell_of[k], position[k], adjacency[k] = self._encode(arch)[:4]
        current_known = self._known_neighbour_fraction(self.cell)
        for k, (score, minus_found, identity, arch) in enumerate(self._elites):
            found = min(1.0, -minus_found / self.budget)
            is_current = identity == self.identity
            known = current_known if is_current else self._known_neighbour_fraction(arch)
            elites[k] = (1.0, self.rank(score), found, float(is_current), known)
        mask, _, identities, args = self._edits_of(self.cell)
        mask, seen = mask.copy(), np.zeros(c.num_actions, dtype=np.int8)
        seen[1 : 1 + len(self._elites)] = 1
        mask[0] = 1
        for k, elite in enumerate(self._elites):
            mask[1 + k] = elite[2] != self.identity
        for action, identity in identities.items():
            seen[action] = identity in self._observed
        if c.unseen_edits_only:
            mask[c.first_edit :] &= 1 - seen[c.first_edit :]
        used = self.session.unique_queries
        left = self.budget - used
        waited = used - self._last_improvement
        log_scale = math.log1p(LOG_SCALE)
        context = np.array(
            [
                left / self.budget,
                min(1.0, math.log1p(left) / log_scale),
                min(1.0, math.log1p(self.budget) / log_scale),
                min(1.0, waited / self.budget),
                min(1.0, math.log1p(waited) / log_scale),
                max(0.0, 1.0 - self.steps / self.step_cap),
                self.rank(self._observed[self.identity]),
                float(self.current_is_new),
                float(self.identity == self._elites[0][2]),
                min(1.0, self._stuck / c.recent_edits),
                current_known,
                min(1.0, self.cell.num_vertices / t),
            ],
            dtype=np.float32,
        )
        recent = np.zeros((c.recent_edits, len(RECENT_FIELDS)), dtype=np.float32)
        recent_slot = np.full(c.recent_edits, -1, dtype=np.int8)
        for k, (kind, slot, rank_change, new, improved) in enumerate(reversed(self._recent)):
            recent[k, kind] = 1.0
            recent[k, len(ACTION_KINDS) :] = (1.0, rank_change, new, improved)
            recent_slot[k] = slot
        return {
            "tokens": tokens,
            "cell_of": cell_of,
            "position": position,
            "adjacency": adjacency,
            "elites": elites,
            "context": context,
            "recent": recent,
            "recent_slot": recent_slot,
            "action_args": args.copy(),
            "action_mask": mask,
            "action_seen": seen,
        }

    def _info(self, **extra: Any) -> dict[str, Any]:
        return {
            "task": self.task.name,
            "budget": self.budget,
            "score": self.current.score,
            "best_score": self.best.score,
            "unique_queries": self.session.unique_queries,
            "steps": self.steps,
            **extra,
        }

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a search. `options` may name a `task` (index), a `budget`, a start `cell` and a `session`
        (a run already under way, e.g. the runner's: its history is the new episode's memory)."""
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        self.task = self.tasks[int(options.get("task", rng.integers(len(self.tasks))))]
        self.space = self.task.benchmark.space
        self.budget = int(options.get("budget") or log_uniform_budget(*self.task.budget, rng))
        num_ops = len(self.space.op_names)
        slots = rng.permutation(self.config.op_slots)[:num_ops] if self.config.relabel_ops else np.arange(num_ops)
        self._slots = [int(s) for s in slots]
        self._slots_array = np.asarray(self._slots, dtype=np.int16)
        kinds = len(EDIT_KINDS)
        self._kind_slots = rng.permutation(kinds) if self.config.relabel_kinds else np.arange(kinds)
        self._layout = self.space.edit_layout.arrays
        self._global_args = self._action_args_template()
        self._encodings: dict = {}
        self._args_cache: dict = {}
        session = options.get("session")
        if session is None:
            session = self.task.benchmark.session(budget=None, rng=np.random.default_rng(rng.integers(2**63)))
        self.session = session
        if self.task.scale is None and id(self.task) not in self._scales:
            self._scales[id(self.task)] = reference_scale(self.task.benchmark, self.config.reference_samples)
        self._scale = self.task.scale or self._scales[id(self.task)]
        self._noise_rng = np.random.default_rng(rng.integers(2**63))  # its own stream: noise moves no cell
        self._sorted: list[float] = []
        self._observed: dict[object, float] = {}
        self._elites: list[tuple] = []
        self.best: Evaluation | None = None
        self._best_observed = -math.inf
        self._last_improvement = 0
        for found, result in enumerate(session.history, start=1):  # the memory of a run under way
            self._observe(result, self.task.benchmark.identity(result.cell), found)
        self._recent: deque = deque(maxlen=self.config.recent_edits)
        self._stuck = 0
        self.steps = 0
        self.step_cap = max(1, math.ceil(self.config.step_cap * self.budget))
        self._proposed: tuple[int, Cell | Arch] | None = None
        start = options.get("cell")
        start = self.space.sample(rng) if start is None else start
        new = self._move(start)
        self._best_shaped = self.shaped(self.best.score)
        return self._observation(), self._info(cell=self.cell, new=new)

    def _action_args_template(self) -> np.ndarray:
        c = self.config
        args = np.full((c.num_actions, 4), NONE, dtype=np.int8)
        args[0, :2] = (FRESH_SAMPLE, c.max_vertices + c.num_elites)
        for k in range(c.num_elites):
            args[1 + k, :2] = (RETURN_ELITE, c.max_vertices + k)
        return args

    def _move(self, target: Cell | Arch) -> bool:
        """Query `target` (free when known), make it the current cell; whether it was new."""
        before = self.session.unique_queries
        result = self.session.query(target)
        new = self.session.unique_queries > before
        identity = self.task.benchmark.identity(result.cell)
        if new:
            self._observe(result, identity, self.session.unique_queries)
        self.current, self.cell, self.identity, self.current_is_new = result, result.cell, identity, new
        return new

    def move_kind(self, action: int) -> str:
        """What `action` does (an `ACTION_KINDS` name), whatever kind slot the observation shows it in."""
        first = self.config.first_edit
        if action >= first:
            return EDIT_KINDS[int(self._layout[action - first, 0])]
        return ACTION_KINDS[FRESH_SAMPLE if action == 0 else RETURN_ELITE]

    def propose(self, action: int, fresh: Cell | Arch | None = None) -> Cell | Arch | None:
        """The cell `action` moves to (None for a masked action); `step(action)` then moves there.

        A fresh sample is drawn here, once: an ask/tell strategy asks for the proposal and steps
        when told its result. `fresh` is the fresh sample to move to when the caller draws it (a guided
        run picks it with its score model); by default the space's sampler draws it.
        """
        action = int(action)
        if self._proposed is not None and self._proposed[0] == action:
            return self._proposed[1]
        if action == 0:
            target = fresh if fresh is not None else self.space.sample(self.np_random)
        elif 1 <= action <= len(self._elites):
            target = self._elites[action - 1][3] if self._elites[action - 1][2] != self.identity else None
        else:
            edits = self._edits_of(self.cell)
            target = edits.targets.get(action)
            if self.config.unseen_edits_only and edits.identities.get(action) in self._observed:
                target = None
        self._proposed = (action, target)
        return target

    def step(self, action):
        if self.session is None:
            raise RlnasError("call reset() before step()")
        if self.session.unique_queries >= self.budget or self.steps >= self.step_cap:
            raise RlnasError("the search episode is over; call reset()")
        action = int(action)
        target = self.propose(action)
        self._proposed = None
        invalid = target is None
        if invalid:
            if self.strict:
                raise InvalidActionError(f"action {action} is masked; choose one with obs['action_mask'] == 1")
            target = self.cell
        previous_rank = self.rank(self._observed[self.identity])
        kind, _, _, slot = (int(x) for x in self._edits_of(self.cell).args[action])
        parent = (self.current, self.cell, self.identity)
        new = self._move(target)
        self.steps += 1
        self._stuck = 0 if new else self._stuck + 1
        shaped_best = self.shaped(self.best.score)
        reward, self._best_shaped = shaped_best - self._best_shaped, shaped_best
        if not invalid:
            improved = float(new and self._last_improvement == self.session.unique_queries)
            rank_change = self.rank(self._observed[self.identity]) - previous_rank
            self._recent.append((kind, slot, rank_change, float(new), improved))
            is_edit = action >= self.config.first_edit
            if self.config.keep_better_only and new and is_edit and not self._improves_on(parent[2]):
                self.current, self.cell, self.identity = parent  # queried, not moved to
                self.current_is_new = False
        terminated = self.session.unique_queries >= self.budget
        truncated = not terminated and self.steps >= self.step_cap
        info = self._info(cell=self.cell, new=new, invalid_action=invalid)
        return self._observation(), float(reward), terminated, truncated, info

    def _improves_on(self, identity: object) -> bool:
        """Whether the current cell's observed score beats that of the known cell `identity`."""
        return self._observed[self.identity] > self._observed[identity]

    def render(self):
        if self.render_mode == "ansi":
            return (
                f"{self.task.name} query {self.session.unique_queries}/{self.budget} step {self.steps}  "
                f"score {self.current.score:.4f}  best {self.best.score:.4f}"
            )
        return None
