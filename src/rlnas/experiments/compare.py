"""Strategies x runs on one benchmark, fairly: the same budget and the same per-run seeds for all.

Everything a user can get wrong is checked before any worker starts or any file is written
(`validate`). Each finished run is written to its own files under `DIR/runs/` by an atomic rename
(its rows, then a JSON of how it ended), so a killed comparison loses at most the runs in flight,
and running it again with the same arguments skips every finished run; temporary files a kill
left behind are removed. `config.json` records the settings and what identifies each strategy (a
content hash of a policy file), and a rerun that differs is refused. `results.csv`,
`summary.json` and `anytime.png` are rebuilt from the run files at the end.

Runs go in parallel over worker processes, or as Ray tasks (`executor="ray"`, retried when a
worker dies; `address` joins a cluster). Results on a benchmark a learned policy was trained on
are marked in-distribution in the summary.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rlnas.benchmarks import Benchmark, check_benchmark, load_benchmark, scores_digest
from rlnas.devices import torch_threads
from rlnas.errors import RlnasError
from rlnas.files import held_folder, remove_stale_temporaries, write_atomic
from rlnas.ray_cluster import check_executor, start_ray
from rlnas.strategies import Settings, check_settings, check_strategy, make_strategy, settings_of, strategy_identity
from rlnas.strategies.runner import SearchResult, check_budget_seconds, run_search, space_size

RESULT_FIELDS = ("strategy", "run", "query", "hash", "score", "best_so_far", "cost")
SUMMARY_BUDGETS = (10, 20, 50, 100, 150, 200, 300, 500, 1000)


@dataclass(frozen=True)
class CompareConfig:
    benchmark: str
    strategies: tuple[str, ...]
    budget: int
    runs: int
    seed: int
    repeat: str = "mean"
    budget_seconds: float | None = None
    """Also stop a run once its queries' summed training time (the benchmark's cost) reaches this."""
    space: str | None = None
    """The space of a csv: table or of train: children."""
    options: tuple[tuple[str, object], ...] = ()
    """Settings of benchmarks that take them (train:DATASET: epochs, width, depth...)."""
    settings: Settings = ()
    """Settings of the strategies, as `--set` gives them: (strategy name, field, value)."""


def run_seed(seed: int, run: int) -> np.random.Generator:
    """Run r of every strategy gets the same generator, independent of the other runs."""
    return np.random.default_rng(np.random.SeedSequence([seed, run]))


def run_file_stem(strategy: str) -> str:
    """A strategy spec such as `agent:runs/x` made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", strategy)


def _run_file(out: Path, strategy: str, run: int, suffix: str = ".csv") -> Path:
    return out / "runs" / f"{run_file_stem(strategy)}-{run:04d}{suffix}"


def rows_csv(rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_FIELDS)
    writer.writerows(rows)
    return buffer.getvalue()


def run_rows(strategy: str, run: int, result: SearchResult, cost_metric: str | None) -> list[tuple]:
    """The results.csv rows of one run: every unique query, the best score so far and the cost so far."""
    best, cost = -np.inf, 0.0
    rows = []
    for k, evaluation in enumerate(result.history, start=1):
        best = max(best, evaluation.score)
        cost += evaluation.metrics.get(cost_metric, 0.0) if cost_metric else 0.0
        rows.append((strategy, run, k, evaluation.hash, repr(evaluation.score), repr(best), repr(cost)))
    return rows


# ---------------------------------------------------------------------------- validation


def validate(config: CompareConfig, out: Path, data: str | None) -> dict[str, dict]:
    """Check everything before anything starts; return what identifies each strategy.

    One-line errors for: budgets, runs and seeds out of range, duplicate strategies or two that
    would share a run file, an unknown strategy or benchmark, missing data, a policy evaluated on
    its training seed, and an output folder that is a file or cannot be written.
    """
    if config.budget < 1 or config.runs < 1:
        raise RlnasError(f"--budget and --runs must be at least 1 (got {config.budget} and {config.runs})")
    if config.seed < 0:
        raise RlnasError(f"--seed must be 0 or more, got {config.seed}")
    if config.budget_seconds is not None and config.budget_seconds <= 0:
        raise RlnasError(f"--budget-seconds must be positive, got {config.budget_seconds}")
    if not config.strategies:
        raise RlnasError("no strategy given: pass --strategies, e.g. rs,ls,re")
    stems: dict[str, str] = {}
    for name in config.strategies:
        if name in stems.values():
            raise RlnasError(f"the strategy {name} is listed twice in --strategies; list each once")
        other = stems.setdefault(run_file_stem(name), name)
        if other != name:
            raise RlnasError(f"the strategies {other} and {name} would share one results file; rename one of them")
    check_benchmark(config.benchmark, data, config.repeat, config.space, config.options)
    benchmark = _benchmark(config, data)  # loaded once, before workers fork
    check_budget_seconds(benchmark, config.budget_seconds)
    size = space_size(benchmark)
    if size is not None and config.budget > size:
        raise RlnasError(f"--budget {config.budget} is more than the {size:,} architectures of {config.benchmark}")
    check_settings(config.settings, config.strategies)
    identities = {}
    for name in config.strategies:
        # an unknown name, a missing policy, another space, settings out of range
        strategy = check_strategy(name, benchmark.space, settings_of(name, config.settings))
        if getattr(strategy, "training_seed", None) == config.seed:
            raise RlnasError(
                f"--seed {config.seed} is the training seed of {name}; evaluate on disjoint seeds (e.g. --seed 1000)"
            )
        identities[name] = strategy_identity(name, strategy)
    if out.exists() and not out.is_dir():
        raise RlnasError(f"--out {out} is a file; give a folder")
    return identities


#: The record a command writes first into its --out folder, and what it names: a folder that holds one kind
#: is refused by the other command, so that neither mixes its results into the other's or replaces them.
FOLDER_RECORDS = {"config.json": "comparison", "search.json": "search"}


#: Keys a folder's record gained after its first release: a record without them is taken as it is.
ADOPTED_KEYS = ("scores_digest",)


@contextmanager
def claim_folder(
    out: Path,
    record_file: str,
    record: dict,
    fix: str,
    subfolders: tuple[str, ...] = (),
    merge: Callable[[dict, dict], tuple[dict, list[str]]] | None = None,
) -> Iterator[None]:
    """Hold `out` for this command (`held_folder`) with its `record_file` holding `record`: a new folder, one
    that holds the same (a resumed run) or, with `merge` (stored, record -> the record to keep and what
    differs), one that `record` extends.

    Refused with one line: a folder in use by another command, one that holds another command's record,
    one with another record (`fix` says what to do), and one that holds files but no record (it is not this
    command's). Temporaries that a killed writer left are removed.
    """
    what = FOLDER_RECORDS[record_file]
    record = json.loads(json.dumps(record))  # as JSON stores it
    path = out / record_file
    with held_folder(out, what):
        try:
            _check_and_record(out, record_file, record, fix, merge)
            for folder in (out, *(out / name for name in subfolders)):
                folder.mkdir(exist_ok=True)
                remove_stale_temporaries(folder)
        except json.JSONDecodeError as exc:
            raise RlnasError(f"{path} is corrupt ({exc.msg}); remove it, or use another --out") from exc
        except OSError as exc:
            raise RlnasError(f"cannot write to {out} ({exc.strerror}); give a writable --out with free space") from exc
        yield


def _check_and_record(
    out: Path, record_file: str, record: dict, fix: str, merge: Callable[[dict, dict], tuple[dict, list[str]]] | None
) -> None:
    """`claim_folder`'s checks of the folder it holds, and the record written or extended."""
    what = FOLDER_RECORDS[record_file]
    path = out / record_file
    for other, kind in FOLDER_RECORDS.items():
        if other != record_file and (out / other).exists():
            raise RlnasError(f"{out} holds a {kind} ({other}), not a {what}; use another --out")
    if path.exists():
        on_disk = json.loads(path.read_text())
        if not isinstance(on_disk, dict):
            raise RlnasError(f"{path} is not the record of a {what}; remove it, or use another --out")
        # a folder of an rlnas before these keys is taken as is, and given them
        stored = {key: record[key] for key in ADOPTED_KEYS if key in record} | on_disk
        if merge is not None:
            kept, changed = merge(stored, record)
        else:
            kept, changed = stored, sorted(k for k in record.keys() | stored.keys() if stored.get(k) != record.get(k))
        if changed:
            raise RlnasError(f"{out} holds a {what} with other settings (these differ: {', '.join(changed)}); {fix}")
        if kept != on_disk:
            write_atomic(path, json.dumps(kept, indent=2))
        return
    remove_stale_temporaries(out)
    if any(out.iterdir()):
        raise RlnasError(
            f"{out} holds files but no {record_file}, so it is not a {what} folder; "
            "use another --out or an empty folder"
        )
    write_atomic(path, json.dumps(record, indent=2))


#: What a comparison run again in its folder may change: its runs and its strategies (each run is its own
#: file, seeded by its index). A strategy it had before must be the same one: its identity and settings.
EXTENSIBLE = ("runs", "strategies", "identities", "settings")


def merged_record(stored: dict, record: dict) -> tuple[dict, list[str]]:
    """The record of a comparison that `record` extends (more runs, more strategies), and what differs where
    the two must agree: every other field, and the identity and settings of each strategy both have."""
    changed = sorted(k for k in stored.keys() | record.keys() if k not in EXTENSIBLE and stored.get(k) != record.get(k))

    stems = {run_file_stem(s): s for s in stored["strategies"]}
    for strategy in (s for s in record["strategies"] if s not in stored["strategies"]):
        if run_file_stem(strategy) in stems:
            changed.append(f"{strategy} would share the results files of {stems[run_file_stem(strategy)]}")
    for strategy in (s for s in record["strategies"] if s in stored["strategies"]):
        if stored["identities"].get(strategy) != record["identities"][strategy]:
            changed.append(f"the identity of {strategy}")
        given = [settings_of(strategy, r.get("settings", [])) for r in (stored, record)]
        if given[0] != given[1]:
            before, now = (", ".join(f"{f}={v}" for f, v in g.items()) or "defaults" for g in given)
            changed.append(f"the settings of {strategy} ({before} before, {now} now)")
    kept = {k: v for k, v in record.items() if k != "settings"} | {
        "runs": max(stored["runs"], record["runs"]),
        "strategies": stored["strategies"] + [s for s in record["strategies"] if s not in stored["strategies"]],
        "identities": stored["identities"] | record["identities"],
    }
    both = stored.get("settings", []) + [e for e in record.get("settings", []) if e not in stored.get("settings", [])]
    return kept | ({"settings": both} if both else {}), changed  # no settings: as a comparison before --set


def prepare_folder(
    out: Path, config: CompareConfig, identities: dict[str, dict], digest: str | None
) -> AbstractContextManager[None]:
    """Create the folder, or check that it holds this comparison or one this extends (with more runs or
    strategies), on a table of the same scores (`digest`)."""
    fix = "use another --out, or the same arguments (more runs or strategies extend it; the same policy files and data)"
    record = asdict(config) | {"identities": identities} | ({"scores_digest": digest} if digest else {})
    if not config.settings:
        del record["settings"]  # a comparison of before --set still resumes
    return claim_folder(out, "config.json", record, fix, subfolders=("runs",), merge=merged_record)


# ---------------------------------------------------------------------------- running


@lru_cache(maxsize=1)
def _benchmark(config: CompareConfig, data: str | None) -> Benchmark:
    """The benchmark a worker process uses for all its runs (loaded once per process)."""
    return load_benchmark(config.benchmark, data, config.repeat, config.space, config.options)


def execute_run(config: CompareConfig, strategy: str, run: int, out: str, data: str | None) -> tuple[str, int]:
    """Run one (strategy, run) and store its files; in a worker process, a Ray task or in-process."""
    benchmark = _benchmark(config, data)
    with torch_threads(1):  # one core per run: parallelism is across runs
        searcher = make_strategy(strategy, settings_of(strategy, config.settings))
        result = run_search(
            searcher, benchmark, config.budget, run_seed(config.seed, run), budget_seconds=config.budget_seconds
        )
    overhead = searcher.overhead() if hasattr(searcher, "overhead") else {}
    ending = {"stop_reason": result.stop_reason, "total_queries": result.total_queries, "cost": result.cost}
    write_atomic(_run_file(Path(out), strategy, run, ".json"), json.dumps(ending | {"overhead": overhead}))
    write_atomic(_run_file(Path(out), strategy, run), rows_csv(run_rows(strategy, run, result, benchmark.cost_metric)))
    return strategy, run


def run_comparison(
    config: CompareConfig,
    out: Path,
    data: str | None = None,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
    executor: str = "local",
    address: str | None = None,
) -> dict:
    """Run every missing (strategy, run), then write results.csv, summary.json and anytime.png."""
    if workers < 1:
        raise RlnasError(f"--workers must be at least 1, got {workers}")
    check_executor(executor)
    _benchmark.cache_clear()  # a table edited since the last comparison in this process is read again
    identities = validate(config, out, data)
    with prepare_folder(out, config, identities, scores_digest(_benchmark(config, data))):
        return _run_and_summarize(config, out, data, workers, on_progress, executor, address, identities)


def _run_and_summarize(
    config: CompareConfig,
    out: Path,
    data: str | None,
    workers: int,
    on_progress: Callable[[int, int], None] | None,
    executor: str,
    address: str | None,
    identities: dict[str, dict],
) -> dict:
    """`run_comparison` in the folder it holds: the missing runs, then results.csv, summary.json and the plot."""
    jobs = [(s, r) for r in range(config.runs) for s in config.strategies if not _run_file(out, s, r).exists()]
    missing = set(jobs)
    for s, r in ((s, r) for r in range(config.runs) for s in config.strategies if (s, r) not in missing):
        read_run(out, s, r)  # a damaged finished run fails now, not after the missing ones have run
    total = config.runs * len(config.strategies)
    done = total - len(jobs)
    if on_progress:
        on_progress(done, total)

    def finished() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)

    if jobs and executor == "ray":
        _run_on_ray(config, jobs, out, data, address, workers, finished)
    elif jobs and workers > 1:
        with ProcessPoolExecutor(workers, initializer=_stop_on_interrupt) as pool:
            futures = [pool.submit(execute_run, config, s, r, str(out), data) for s, r in jobs]
            try:
                for future in as_completed(futures):
                    future.result()
                    finished()
            except BaseException as exc:  # Ctrl-C or a failed run: the queued runs are not started
                pool.shutdown(wait=False, cancel_futures=True)
                if isinstance(exc, BrokenProcessPool):
                    raise RlnasError(
                        "a worker process stopped (interrupted, killed or out of memory); "
                        "the finished runs are kept: run the same command again to resume"
                    ) from exc
                raise
    else:
        for s, r in jobs:
            execute_run(config, s, r, str(out), data)
            finished()

    benchmark = _benchmark(config, data)
    curves = collect(out, config)
    write_results(out, config)
    summary = summarize(curves, benchmark, config, identities, endings(out, config))
    write_atomic(out / "summary.json", json.dumps(summary, indent=2))
    from rlnas.experiments.plots import plot_anytime

    plot_anytime(curves, benchmark.best_possible, benchmark.name, benchmark.metric, out / "anytime.png")
    return summary


def _stop_on_interrupt() -> None:
    """In a worker process: Ctrl-C ends the process at once, rather than the one run it is in (a run is
    written only when it is finished, so nothing half-written is left). Where the command ignores Ctrl-C
    (a background job of a script), so do its workers."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_on_ray(config, jobs, out: Path, data, address: str | None, workers: int, finished: Callable[[], None]) -> None:
    """Each run is a Ray task (one CPU), retried on another worker if its worker dies; at most `workers` at once.

    The tasks write to `out` made absolute: a joined cluster's workers do not share this process's folder.
    """
    ray, started = start_ray(address)
    try:
        task = ray.remote(num_cpus=1, max_retries=3)(execute_run)
        waiting, pending = list(jobs), []
        while waiting or pending:
            while waiting and len(pending) < workers:
                s, r = waiting.pop(0)
                pending.append(task.remote(config, s, r, str(out.resolve()), data))
            ready, pending = ray.wait(pending, num_returns=1)
            ray.get(ready)
            finished()
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------- results


def read_run(out: Path, strategy: str, run: int) -> tuple[list[float], dict]:
    """A finished run's best-so-far curve and how it ended; one line naming the files if they are damaged."""
    rows, ending = _run_file(out, strategy, run), _run_file(out, strategy, run, ".json")
    try:
        with open(rows, newline="") as f:
            curve = [float(row["best_so_far"]) for row in csv.DictReader(f)]
        end = json.loads(ending.read_text())
        if not curve or not isinstance(end, dict):
            raise ValueError("no rows" if not curve else "not a JSON object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RlnasError(
            f"the run files {rows} and {ending.name} are damaged ({type(exc).__name__}: {exc}); "
            "delete both and run the same command again to redo that run"
        ) from exc
    return curve, end


def collect(out: Path, config: CompareConfig) -> dict[str, np.ndarray]:
    """Best-so-far curves per strategy: (runs, longest run); a run that stopped early keeps its best."""
    curves = {}
    for strategy in config.strategies:
        runs = [read_run(out, strategy, r)[0] for r in range(config.runs)]
        length = max(len(run) for run in runs)
        curves[strategy] = np.array([run + run[-1:] * (length - len(run)) for run in runs])
    return curves


def endings(out: Path, config: CompareConfig) -> dict[str, list[dict]]:
    """How each run ended (stop reason, queries, cost, the strategy's own overhead)."""
    return {s: [read_run(out, s, r)[1] for r in range(config.runs)] for s in config.strategies}


def write_results(out: Path, config: CompareConfig) -> None:
    parts = []
    for strategy in config.strategies:
        for r in range(config.runs):
            text = _run_file(out, strategy, r).read_text()
            parts.append(text if not parts else text.split("\n", 1)[1])
    write_atomic(out / "results.csv", "".join(parts))


def summary_budgets(budget: int) -> list[int]:
    return sorted({b for b in SUMMARY_BUDGETS if b <= budget} | {budget})


def summarize(
    curves: dict[str, np.ndarray],
    benchmark: Benchmark,
    config: CompareConfig,
    identities: dict[str, dict] | None = None,
    run_endings: dict[str, list[dict]] | None = None,
) -> dict:
    """Mean best score, its 95% confidence half-width (normal approximation) and, where the
    benchmark's best is known, the mean regret; per strategy, whether the benchmark is one its
    policy was trained on, how its runs ended, and the summed overhead it reported."""
    strategies = {}
    for name, curve in curves.items():
        budgets = {}
        for b in summary_budgets(min(config.budget, curve.shape[1])):
            best = curve[:, b - 1]
            ci95 = float(1.96 * best.std(ddof=1) / np.sqrt(len(best))) if len(best) > 1 else None  # one run: none
            budgets[str(b)] = {"mean_best": float(best.mean()), "ci95": ci95}
            if benchmark.best_possible is not None:
                budgets[str(b)]["mean_regret"] = float(benchmark.best_possible - best.mean())
        trained_on = (identities or {}).get(name, {}).get("trained_on")
        entry: dict = {"budgets": budgets, "in_distribution": bool(trained_on and benchmark.name in trained_on)}
        if trained_on is not None:
            entry["trained_on"] = trained_on
        if settings_of(name, config.settings):
            entry["settings"] = settings_of(name, config.settings)
        if run_endings is not None:
            ends = run_endings[name]
            entry["stop_reasons"] = dict(sorted(Counter(e["stop_reason"] for e in ends).items()))
            entry["mean_total_queries"] = float(np.mean([e["total_queries"] for e in ends]))
            overhead: dict[str, float] = {}
            for e in ends:
                for key, value in e.get("overhead", {}).items():
                    overhead[key] = overhead.get(key, 0.0) + float(value)
            if overhead:
                entry["overhead_total"] = overhead
        strategies[name] = entry
    return {
        "benchmark": benchmark.name,
        "metric": benchmark.metric,
        "best_possible": benchmark.best_possible,
        "runs": int(next(iter(curves.values())).shape[0]),
        "budget_seconds": config.budget_seconds,
        "strategies": strategies,
    }
