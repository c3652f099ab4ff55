"""Optuna's TPE sampler as a strategy, driven through Optuna's own ask/tell (`study.ask`, `study.tell`).

This is what many users would reach for instead of a NAS method, and the proof that an outside
optimiser fits the runner's contract. It searches any space that publishes its architectures as
categorical choices (`choices()` and `from_choices()`, see `rlnas.spaces.base.CategoricalSpace`):
NB201's six edge ops, NAS-Bench-Graph's links and ops, DARTS' per-node source pairs and ops, and a
DAG space's (NB101's) upper-triangular adjacency bits and interior ops.

The sampler is Optuna's `TPESampler` with its defaults, as a new user would create it, seeded from
the run's generator. How the runner's events map onto a study:

- a draw that is outside the space (a DAG matrix with too many edges or no input -> output path,
  an all-skip NAS-Bench-Graph form) is told as a failed trial (`TrialState.FAIL`, which TPE leaves
  out of its model) and drawn again within the same `ask`: it costs no budget, and `overhead()`
  counts it;
- a draw of an architecture evaluated before (a revisit, told with `new=False`) is told with its
  known score, as an objective with a cache would return it; it costs no budget either;
- every other draw is told its score (maximised) when its result arrives, in any order; trials
  still in flight are running trials to Optuna (its constant liar, on by default since Optuna 5).

Optuna is imported only when the strategy is made (the `tpe` extra), and its INFO messages (one per
trial) are silenced while the strategy calls it; the previous verbosity is restored each time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import numpy as np

from rlnas.benchmarks import Evaluation
from rlnas.cells import Cell
from rlnas.errors import ConfigError, InvalidCellError, RlnasError
from rlnas.spaces import SearchSpace
from rlnas.strategies.base import Strategy


@dataclass(frozen=True)
class TPEConfig:
    """The settings of the tpe strategy: Optuna's `TPESampler` defaults unless changed."""

    n_startup_trials: int = 10
    """Trials drawn at random (Optuna's RandomSampler) before TPE models the results; failed trials
    (draws outside the space) do not count. Optuna's default, 10."""
    n_ei_candidates: int = 24
    """Candidates TPE draws from its good-trials density to pick the one of highest expected
    improvement. Optuna's default, 24."""
    multivariate: bool | None = None
    """One joint density over all choices (True) or one per choice (False); None keeps the installed
    Optuna's default (True for one objective since Optuna 5.0, False before)."""
    constant_liar: bool | None = None
    """Whether trials in flight count as bad results, so that parallel asks spread out; None keeps the
    installed Optuna's default (True since Optuna 5.0, False before)."""
    max_invalid_streak: int = 10_000
    """Draws outside the space in a row after which the search stops with an error (a space whose
    encoding almost never gives a valid architecture)."""

    def __post_init__(self) -> None:
        if self.n_startup_trials < 0:
            raise ConfigError(f"tpe setting n_startup_trials must be at least 0, got {self.n_startup_trials}")
        for name in ("n_ei_candidates", "max_invalid_streak"):
            if getattr(self, name) < 1:
                raise ConfigError(f"tpe setting {name} must be at least 1, got {getattr(self, name)}")

    def sampler_arguments(self) -> dict[str, Any]:
        """The keyword arguments for `TPESampler`: the settings given, the installed Optuna's default for None."""
        settings = asdict(self)
        del settings["max_invalid_streak"]
        return {name: value for name, value in settings.items() if value is not None}


def _optuna() -> ModuleType:
    try:
        import optuna
    except ModuleNotFoundError as exc:
        raise RlnasError("the tpe strategy needs Optuna: pip install 'rlnas[tpe]'") from exc
    return optuna


@contextmanager
def _quiet(optuna: ModuleType) -> Iterator[None]:
    """Optuna's INFO messages (a line per trial) off while inside; the caller's verbosity restored after."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


class TPE(Strategy):
    """Optuna's TPE over a space's categorical choices (see the module docstring)."""

    name = "tpe"

    def __init__(self, config: TPEConfig | None = None):
        _optuna()  # fail before any run starts when the extra is missing
        self.config = config or TPEConfig()

    def start(self, space: SearchSpace, rng: np.random.Generator) -> None:
        super().start(space, rng)
        if not (callable(getattr(space, "choices", None)) and callable(getattr(space, "from_choices", None))):
            raise RlnasError(
                f"tpe needs a space of categorical choices; {space.name} has no choices()/from_choices() "
                "(see rlnas.spaces.base.CategoricalSpace)"
            )
        optuna = _optuna()
        self._distributions = {
            name: optuna.distributions.CategoricalDistribution(options) for name, options in space.choices()
        }
        seed = int(rng.integers(2**32))  # TPESampler seeds numpy's legacy RandomState: below 2**32
        sampler = optuna.samplers.TPESampler(seed=seed, **self.config.sampler_arguments())
        with _quiet(optuna):
            self.study = optuna.create_study(direction="maximize", sampler=sampler)
        # id(cell) -> (the cell, held so that its id is not reused while in flight; its trials)
        self._in_flight: dict[int, tuple[Cell, list[Any]]] = {}
        self._overhead = {
            "asks": 0,
            "seconds_in_ask": 0.0,
            "cpu_seconds_in_ask": 0.0,
            "seconds_in_tell": 0.0,
            "invalid": 0,
            "revisits": 0,
        }

    def ask(self) -> Cell:
        optuna = _optuna()
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            with _quiet(optuna):
                for _ in range(self.config.max_invalid_streak):
                    trial = self.study.ask(self._distributions)
                    try:
                        cell = self.space.from_choices(trial.params)
                    except InvalidCellError:
                        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                        self._overhead["invalid"] += 1
                        continue
                    self._in_flight.setdefault(id(cell), (cell, []))[1].append(trial)
                    self._overhead["asks"] += 1
                    return cell
        finally:
            self._overhead["seconds_in_ask"] += time.perf_counter() - started
            self._overhead["cpu_seconds_in_ask"] += time.process_time() - cpu_started
        raise RlnasError(
            f"tpe drew {self.config.max_invalid_streak:,} architectures in a row outside {self.space.name}; "
            "its encoding rarely gives a valid one here: use another strategy or raise max_invalid_streak"
        )

    def tell(self, cell: Cell, result: Evaluation, new: bool) -> None:
        started = time.perf_counter()
        _, trials = self._in_flight[id(cell)]
        trial = trials.pop(0)
        if not trials:
            del self._in_flight[id(cell)]
        with _quiet(_optuna()):
            self.study.tell(trial, result.score)
        self._overhead["revisits"] += int(not new)
        self._overhead["seconds_in_tell"] += time.perf_counter() - started

    def overhead(self) -> dict[str, float | int]:
        """Optuna's cost in this run (free in the query budget): proposals returned (`asks`, revisits
        included), wall and CPU seconds in `ask` (TPE's sampling, decoding, and redrawing after draws
        outside the space; the CPU time is the process's, unaffected by other processes on the
        machine), wall seconds in `tell`, draws outside the space (`invalid`), and revisits told."""
        return dict(self._overhead)
