"""Strategies x runs on one benchmark, fairly: the same budget and the same per-run seeds for all.

Each finished run is written to its own file under `DIR/runs/` by an atomic rename, so a killed
comparison loses at most the runs in flight, and running it again with the same arguments skips
every finished run. `results.csv`, `summary.json` and `anytime.png` are rebuilt from the run
files at the end, each again by an atomic rename.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rlnas.benchmarks import Benchmark, Evaluation, load_benchmark
from rlnas.errors import RlnasError
from rlnas.strategies import make_strategy

RESULT_FIELDS = ("strategy", "run", "query", "hash", "score", "best_so_far")
SUMMARY_BUDGETS = (10, 20, 50, 100, 150, 200, 300, 500, 1000)


@dataclass(frozen=True)
class CompareConfig:
    benchmark: str
    strategies: tuple[str, ...]
    budget: int
    runs: int
    seed: int
    repeat: str = "mean"


def run_seed(seed: int, run: int) -> np.random.Generator:
    """Run r of every strategy gets the same generator, independent of the other runs."""
    return np.random.default_rng(np.random.SeedSequence([seed, run]))


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _run_file(out: Path, strategy: str, run: int) -> Path:
    """One file per finished run; a spec such as `agent:runs/x` is made safe for a file name."""
    return out / "runs" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', strategy)}-{run:04d}.csv"


def rows_csv(rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_FIELDS)
    writer.writerows(rows)
    return buffer.getvalue()


_worker_benchmark: Benchmark | None = None


def _init_worker(config: CompareConfig, data: str | None) -> None:
    global _worker_benchmark
    _worker_benchmark = load_benchmark(config.benchmark, data, config.repeat)


def _execute(config: CompareConfig, strategy: str, run: int, out: str) -> tuple[str, int]:
    """Run one (strategy, run) and store its rows; runs in a worker process or in-process."""
    assert _worker_benchmark is not None
    history = make_strategy(strategy).run(_worker_benchmark, config.budget, run_seed(config.seed, run))
    write_atomic(_run_file(Path(out), strategy, run), rows_csv(run_rows(strategy, run, history)))
    return strategy, run


def run_rows(strategy: str, run: int, history: list[Evaluation]) -> list[tuple]:
    """The results.csv rows of one run: every unique query with the best score so far."""
    best = -np.inf
    rows = []
    for k, result in enumerate(history, start=1):
        best = max(best, result.score)
        rows.append((strategy, run, k, result.hash, repr(result.score), repr(best)))
    return rows


def check_config(out: Path, config: CompareConfig) -> None:
    """Refuse to mix the runs of two different comparisons in one folder."""
    path = out / "config.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != asdict(config) | {"strategies": list(config.strategies)}:
            raise RlnasError(
                f"{out} holds a comparison with other settings ({stored}); use another --out or the same arguments"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(config), indent=2))


def run_comparison(
    config: CompareConfig,
    out: Path,
    data: str | None = None,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run every missing (strategy, run), then write results.csv, summary.json and anytime.png."""
    if config.budget < 1 or config.runs < 1:
        raise RlnasError("--budget and --runs must be at least 1")
    for name in config.strategies:
        strategy = make_strategy(name)  # fail fast on an unknown name or a missing policy
        if getattr(strategy, "training_seed", None) == config.seed:
            raise RlnasError(
                f"--seed {config.seed} is the training seed of {name}; evaluate on disjoint seeds (e.g. --seed 1000)"
            )
    check_config(out, config)
    (out / "runs").mkdir(exist_ok=True)
    jobs = [(s, r) for r in range(config.runs) for s in config.strategies if not _run_file(out, s, r).exists()]
    total = config.runs * len(config.strategies)
    done = total - len(jobs)
    if on_progress:
        on_progress(done, total)
    if jobs and workers > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(config, data)) as pool:
            futures = [pool.submit(_execute, config, s, r, str(out)) for s, r in jobs]
            for future in as_completed(futures):
                future.result()
                done += 1
                if on_progress:
                    on_progress(done, total)
    elif jobs:
        _init_worker(config, data)
        for s, r in jobs:
            _execute(config, s, r, str(out))
            done += 1
            if on_progress:
                on_progress(done, total)

    benchmark = (
        _worker_benchmark if _worker_benchmark is not None else load_benchmark(config.benchmark, data, config.repeat)
    )
    curves = collect(out, config)
    write_results(out, config)
    summary = summarize(curves, benchmark, config.budget)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2))
    from rlnas.experiments.plots import plot_anytime

    plot_anytime(curves, benchmark.best_possible, benchmark.name, benchmark.metric, out / "anytime.png")
    return summary


def collect(out: Path, config: CompareConfig) -> dict[str, np.ndarray]:
    """Best-so-far curves per strategy: an array of shape (runs, budget)."""
    curves = {}
    for strategy in config.strategies:
        runs = []
        for r in range(config.runs):
            with open(_run_file(out, strategy, r), newline="") as f:
                runs.append([float(row["best_so_far"]) for row in csv.DictReader(f)])
        curves[strategy] = np.array(runs)
    return curves


def write_results(out: Path, config: CompareConfig) -> None:
    parts = []
    for strategy in config.strategies:
        for r in range(config.runs):
            text = _run_file(out, strategy, r).read_text()
            parts.append(text if not parts else text.split("\n", 1)[1])
    write_atomic(out / "results.csv", "".join(parts))


def summary_budgets(budget: int) -> list[int]:
    return sorted({b for b in SUMMARY_BUDGETS if b <= budget} | {budget})


def summarize(curves: dict[str, np.ndarray], benchmark: Benchmark, budget: int) -> dict:
    """Mean best score, its 95% confidence half-width (normal approximation) and mean regret."""
    strategies = {}
    for name, curve in curves.items():
        budgets = {}
        for b in summary_budgets(budget):
            best = curve[:, b - 1]
            sem = best.std(ddof=1) / np.sqrt(len(best)) if len(best) > 1 else float("nan")
            budgets[str(b)] = {
                "mean_best": float(best.mean()),
                "ci95": float(1.96 * sem),
                "mean_regret": float(benchmark.best_possible - best.mean()),
            }
        strategies[name] = {"budgets": budgets}
    return {
        "benchmark": benchmark.name,
        "metric": benchmark.metric,
        "best_possible": benchmark.best_possible,
        "runs": int(next(iter(curves.values())).shape[0]),
        "strategies": strategies,
    }
