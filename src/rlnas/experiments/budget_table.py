"""A table of mean regret at several budgets, with a budget-aware strategy run once per budget.

A learned general policy has the search's budget in its state, so its best after 20 queries of a
1,000-query search is not what it finds in a 20-query search. This table therefore runs each
budget-aware strategy (`learned:`, `agent+predictor:`) as a separate comparison per budget, and the
other strategies, which ignore the budget, once at the largest budget, read at every budget of
their anytime curve. All comparisons use the same seed, so run r of every strategy starts from the
same generator. Every comparison is an ordinary `rlnas compare` folder (resumable), under `out`.

Reported per strategy and budget: mean regret (percentage points; the mean best score x 100 where the
benchmark does not know its best) with its 95% half-width, and
for the first strategy the difference to each other (a 95% Welch interval); the distinct cells
that all runs of a strategy queried together; and whether the benchmark is one the strategy's
policy was trained on (in-distribution).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from rlnas.errors import RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison, run_file_stem

#: Strategy families whose policy reads the budget: run once per budget.
BUDGET_AWARE = ("learned:", "agent+predictor:")


def is_budget_aware(strategy: str) -> bool:
    return strategy.startswith(BUDGET_AWARE)


def run_budget_table(
    config: CompareConfig,
    budgets: list[int],
    out: Path,
    data: str | None = None,
    workers: int = 1,
    on_progress: Callable[[str], None] | None = None,
) -> dict:
    """Run every comparison the table needs (skipping finished runs) and return the table."""
    budgets = sorted(set(budgets))
    if not budgets or budgets[0] < 1:
        raise RlnasError("give budgets of at least 1 architecture, e.g. --budgets 20,50,100")
    aware = [s for s in config.strategies if is_budget_aware(s)]
    others = tuple(s for s in config.strategies if not is_budget_aware(s))
    folders: dict[tuple[str, int], tuple[Path, int]] = {}  # (strategy, budget) -> (folder, query to read)
    if others:
        folder = out / "budget-unaware"
        if on_progress:
            on_progress(f"{', '.join(others)} at {budgets[-1]}")
        run_comparison(replace(config, strategies=others, budget=budgets[-1]), folder, data, workers)
        folders |= {(s, b): (folder, b) for s in others for b in budgets}
    for strategy in aware:
        for b in budgets:
            folder = out / f"{run_file_stem(strategy)}-budget-{b}"
            if on_progress:
                on_progress(f"{strategy} at {b}")
            run_comparison(replace(config, strategies=(strategy,), budget=b), folder, data, workers)
            folders[(strategy, b)] = (folder, b)
    return budget_table(config, budgets, folders)


def _runs(folder: Path, strategy: str, query: int) -> tuple[np.ndarray, set[str]]:
    """Per run, the best score after `query` unique queries; and the distinct cells of all runs."""
    best: dict[int, float] = {}
    cells: set[str] = set()
    with open(folder / "results.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["strategy"] != strategy or int(row["query"]) > query:
                continue
            run = int(row["run"])
            best[run] = max(best.get(run, -np.inf), float(row["best_so_far"]))
            cells.add(row["hash"])
    return np.array([best[r] for r in sorted(best)]), cells


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The difference of means a - b and its 95% Welch half-width."""
    try:
        from scipy import stats
    except ModuleNotFoundError as exc:
        raise RlnasError("the Welch intervals of the table need SciPy: pip install scipy") from exc
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else 1.0
    return float(a.mean() - b.mean()), float(stats.t.ppf(0.975, dof) * np.sqrt(va + vb))


def budget_table(config: CompareConfig, budgets: list[int], folders: dict) -> dict:
    """Regret per (strategy, budget) in percentage points, differences to the first strategy, distinct cells."""
    summaries = {}
    table: dict[str, dict] = {}
    bests: dict[tuple[str, int], np.ndarray] = {}
    for strategy in config.strategies:
        table[strategy] = {"budgets": {}}
        for b in budgets:
            folder, query = folders[(strategy, b)]
            summary = summaries.setdefault(folder, json.loads((folder / "summary.json").read_text()))
            best, cells = _runs(folder, strategy, query)
            best_possible = summary["best_possible"]
            # regret where the benchmark knows its best; else the best score itself (higher is better)
            regret = 100 * (best_possible - best) if best_possible is not None else 100 * best
            bests[(strategy, b)] = regret
            table[strategy]["budgets"][str(b)] = {
                "mean_regret": float(regret.mean()),
                "ci95": float(1.96 * regret.std(ddof=1) / np.sqrt(len(regret))) if len(regret) > 1 else None,
                "distinct_cells": len(cells),
                "runs": len(regret),
            }
            entry = summary["strategies"][strategy]
            table[strategy]["in_distribution"] = entry["in_distribution"]
            if "trained_on" in entry:
                table[strategy]["trained_on"] = entry["trained_on"]
    first = config.strategies[0]
    differences = {
        other: {str(b): welch_interval(bests[(first, b)], bests[(other, b)]) for b in budgets}
        for other in config.strategies[1:]
    }
    return {
        "benchmark": config.benchmark,
        "runs": config.runs,
        "seed": config.seed,
        "budgets": budgets,
        "unit": "regret, percentage points"
        if summary["best_possible"] is not None
        else "best score x 100 (higher is better)",
        "strategies": table,
        "differences": {"of": first, "to": differences},
    }


def table_markdown(table: dict) -> str:
    """The table as Markdown: mean regret (or best score) ± 95% half-width; bold differences whose interval
    excludes 0."""
    budgets = table["budgets"]
    lines = [
        f"({table['unit']})",
        "",
        "| strategy | " + " | ".join(f"@{b}" for b in budgets) + " |",
        "|---" * (len(budgets) + 1) + "|",
    ]
    for name, entry in table["strategies"].items():
        label = f"{name} (in-distribution)" if entry["in_distribution"] else name
        cells = [
            f"{v['mean_regret']:.3f}" + (f" ± {v['ci95']:.3f}" if v["ci95"] is not None else "")
            for v in entry["budgets"].values()
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    first = table["differences"]["of"]
    for other, by_budget in table["differences"]["to"].items():
        cells = []
        for diff, half in by_budget.values():
            text = f"{diff:+.3f} ± {half:.3f}"
            cells.append(f"**{text}**" if abs(diff) > half else text)
        lines.append(f"| {first} - {other} | " + " | ".join(cells) + " |")
    for name, entry in table["strategies"].items():
        cells = [f"{v['distinct_cells']:,}" for v in entry["budgets"].values()]
        lines.append(f"| distinct cells queried by all runs: {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
