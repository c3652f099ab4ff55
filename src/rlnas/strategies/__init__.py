"""Search strategies behind one ask/tell interface; `rlnas.strategies.runner` runs them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from rlnas.config_options import parse_field, scalar_fields
from rlnas.env.edit_guide import EditGuideConfig
from rlnas.errors import RlnasError
from rlnas.spaces import SearchSpace
from rlnas.strategies.agent import AgentSearch
from rlnas.strategies.agent_predictor import AgentPredictorConfig, AgentPredictorSearch
from rlnas.strategies.bananas import Bananas, BananasConfig
from rlnas.strategies.base import Strategy
from rlnas.strategies.baselines import LocalSearch, RandomSearch, RandomWalk, RegularizedEvolution
from rlnas.strategies.learned import LearnedSearch
from rlnas.strategies.reinforce import Reinforce, ReinforceConfig
from rlnas.strategies.runner import Search, no_proposal
from rlnas.strategies.tpe import TPE, TPEConfig
from rlnas.user_classes import check_user_class, import_attribute, make_user_object, source_digest

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
    "module:Class": "your own Strategy subclass (rlnas.strategies.base.Strategy: ask and tell), made with no arguments",
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

#: The strategies with settings (`--set NAME.FIELD=VALUE`): the dataclass that holds them, and the keyword the
#: strategy takes an instance of it by (None: the strategy class is that dataclass, the settings its own fields).
SETTINGS: dict[str, tuple[type, str | None]] = {
    "ls": (LocalSearch, None),
    "re": (RegularizedEvolution, None),
    "reinforce": (ReinforceConfig, "config"),
    "tpe": (TPEConfig, "config"),
    "bananas": (BananasConfig, "config"),
    "learned": (EditGuideConfig, "guide"),
    "agent+predictor": (AgentPredictorConfig, "config"),
}
#: Fields of a settings dataclass that the strategy's spec argument sets (`bananas:gin`), and so not `--set`:
#: two places for one setting could disagree.
SPEC_FIELDS = {"bananas": ("predictor",), "agent+predictor": ("predictor",)}
#: A strategy's settings as `--set` gives them and a comparison records them: (strategy name, field, value).
Settings = tuple[tuple[str, str, object], ...]


def settable(name: str) -> dict[str, object]:
    """The fields of strategy `name` that `--set` sets, with their defaults."""
    return {k: v for k, v in scalar_fields(SETTINGS[name][0]).items() if k not in SPEC_FIELDS.get(name, ())}


def settings_in_words(name: str) -> str:
    """The settings of strategy `name` with their defaults, as `rlnas info` and the errors list them."""
    return ", ".join(
        f"{field} ({f'{default:.6g}' if isinstance(default, float) else default})"
        for field, default in settable(name).items()
    )


def parse_settings(assignments: Sequence[str], specs: Sequence[str]) -> Settings:
    """`--set` assignments `NAME.FIELD=VALUE`, each read as its field's type and checked by `check_settings`."""
    settings = []
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        name, dot, field = target.rpartition(".")
        if not (equals and dot and name and field):
            raise RlnasError(f"--set {assignment!r} is not NAME.FIELD=VALUE; write e.g. --set re.population_size=50")
        check_settings(((name, field, text),), specs)
        try:
            value = parse_field(SETTINGS[name][0], field, text)
        except ValueError as exc:
            raise RlnasError(f"--set {assignment}: {exc}") from exc
        settings.append((name, field, value))
    check_settings(tuple(settings), specs)
    # a default given explicitly changes nothing, so it is not recorded: a folder made without it resumes
    return tuple((name, field, value) for name, field, value in settings if value != settable(name)[field])


def check_settings(settings: Settings, specs: Sequence[str]) -> Settings:
    """`settings`, refused in one line where one names a strategy not among `specs` (by the name before any
    colon) or one without settings, a field its settings lack, or a field given twice."""
    listed = {spec.partition(":")[0] for spec in specs}
    seen = set()
    for name, field, _ in settings:
        if ":" in name:
            raise RlnasError(
                f"--set {name}.{field}: name the strategy before its colon, as {name.partition(':')[0]}.{field}"
            )
        if name not in listed:
            raise RlnasError(f"--set {name}.{field}: {name} is not among the strategies ({', '.join(specs)})")
        if name not in SETTINGS:
            raise RlnasError(f"--set {name}.{field}: {name} has no settings; those that have: {', '.join(SETTINGS)}")
        if field in SPEC_FIELDS.get(name, ()):
            raise RlnasError(f"--set {name}.{field}: the strategy's spec gives its {field} (e.g. {name}:gin)")
        if field not in settable(name):
            known = settings_in_words(name)
            raise RlnasError(f"--set {name}.{field}: {name} has no setting {field}; its settings: {known}")
        if (name, field) in seen:
            raise RlnasError(f"--set {name}.{field} is given twice; give each setting once")
        seen.add((name, field))
    return settings


def settings_of(spec: str, settings: Settings) -> dict[str, object]:
    """The fields `settings` gives the strategy of `spec` (by its name before any colon)."""
    name = spec.partition(":")[0]
    return {field: value for strategy, field, value in settings if strategy == name}


def make_strategy(spec: str, settings: Mapping[str, object] | None = None) -> Strategy:
    """A strategy from its name, or `name:argument` for those that take one (e.g. `agent:DIR`), with `settings`
    (field -> value) for the fields of its settings dataclass (`SETTINGS`) that differ from their defaults."""
    name, colon, argument = spec.partition(":")
    if settings and name not in SETTINGS:
        raise RlnasError(f"the strategy {spec} has no settings; those that have: {', '.join(SETTINGS)}")
    if name not in STRATEGIES and colon and argument:
        return make_user_object(user_strategy(spec), spec, "strategy")
    if name not in STRATEGIES:
        raise RlnasError(f"unknown strategy {spec!r}; choose from {', '.join(STRATEGIES)}, or module:Class")
    if name in TAKES_ARGUMENT and not argument:
        raise RlnasError(f"the strategy {name} needs an argument: {TAKES_ARGUMENT[name]}")
    if name in OPTIONAL_ARGUMENT and colon and not argument:
        raise RlnasError(f"{spec!r} has nothing after the colon; write {name} or {OPTIONAL_ARGUMENT[name]}")
    if name not in TAKES_ARGUMENT and name not in OPTIONAL_ARGUMENT and colon:
        raise RlnasError(f"the strategy {name} takes no argument; write {name}, not {spec!r}")
    keywords: dict[str, object] = {}
    if settings:
        cls, keyword = SETTINGS[name]
        keywords = dict(settings) if keyword is None else {keyword: cls(**settings)}
    return STRATEGIES[name](argument, **keywords) if argument else STRATEGIES[name](**keywords)


def user_strategy(spec: str) -> type[Strategy]:
    """The user's Strategy subclass that `module:Class` names, checked as a user's benchmark is (one line for
    each mistake); it is made with no arguments and must name itself (`name`, as every strategy does; a
    comparison labels its results by the spec, `module:Class`)."""
    target = import_attribute(spec, "strategy", ", ".join(STRATEGIES))
    cls = check_user_class(target, spec, Strategy, "rlnas.strategies.base.Strategy", "ask and tell")
    if not isinstance(getattr(cls, "name", None), str):
        raise RlnasError(f"{spec!r} has no name; give the class a name = '...', as every strategy has")
    return cls


def strategy_identity(spec: str, strategy: Strategy) -> dict[str, object]:
    """What a comparison records of a strategy to resume only the same one: a policy's fingerprint and training
    benchmarks, and the source file of a user's own strategy (`module:Class`)."""
    identity = {
        "fingerprint": getattr(strategy, "fingerprint", None),
        "trained_on": getattr(strategy, "trained_on", None),
    }
    if spec.partition(":")[0] not in STRATEGIES:
        identity["source"] = source_digest(type(strategy))
    return identity


def check_strategy(spec: str, space: SearchSpace, settings: Mapping[str, object] | None = None) -> Strategy:
    """`make_strategy(spec, settings)`, started once in `space` with a throwaway generator and asked for its first
    cell, so that a strategy that cannot act there (a policy trained in another space) or proposes nothing usable
    (None, not a cell, an invalid cell) fails before a worker starts or a file is written."""
    strategy = make_strategy(spec, settings)
    if Search(space, strategy, 1, np.random.default_rng(0)).ask() is None:
        raise no_proposal(strategy)
    return strategy


__all__ = [
    "DESCRIPTIONS",
    "SETTINGS",
    "STRATEGIES",
    "TAKES_ARGUMENT",
    "Settings",
    "Strategy",
    "check_settings",
    "check_strategy",
    "make_strategy",
    "parse_settings",
    "settings_in_words",
    "settings_of",
    "strategy_identity",
    "user_strategy",
]
