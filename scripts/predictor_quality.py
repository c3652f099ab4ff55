"""How well and how cheaply the predictors rank unqueried cells, after 20, 50, 100 and 300 queries.

    RLNAS_DATA=../shared/data nice -n 10 python scripts/predictor_quality.py \
        --out docs/results/predictor-quality.json

For every repeat r and benchmark, the queried cells are the first n of one sequence of unique
cells from the space's default sampler (uniform over the cells of NB101 and NB201), seeded by r;
the test cells are `--test` other unique cells of the same sampler, never queried. Each predictor
is fitted from scratch on the n (cell, score) pairs and scored by Kendall's tau-b between its mean
prediction and the true scores of the test cells, and by how often the truth falls within one
predicted standard deviation of the mean. Wall and CPU seconds of each fit, and of prediction per
ranked cell, are measured against the benchmark's own query time (`Benchmark.evaluate`). `--set
KEY=VALUE` overrides a setting of both predictors (e.g. `--set epochs=50`).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from rlnas.benchmarks import load_benchmark
from rlnas.errors import RlnasError
from rlnas.predictors import PREDICTORS, kendall_tau, make_predictor


def unique_cells(space, n: int, rng: np.random.Generator, exclude: frozenset = frozenset()) -> list:
    cells: dict[int, object] = {}
    while len(cells) < n:
        cell = space.sample(rng)
        if cell.key not in exclude:
            cells.setdefault(cell.key, cell)
    return list(cells.values())


def timed(function, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(benchmark, predictors: dict, sizes: list[int], repeat: int, num_test: int) -> list[dict]:
    rng = np.random.default_rng(repeat)
    queried = unique_cells(benchmark.space, max(sizes), rng)
    test = unique_cells(benchmark.space, num_test, rng, frozenset(c.key for c in queried))
    scores = [benchmark.evaluate(c).score for c in queried]
    truth, query_wall, query_cpu = timed(lambda: np.array([benchmark.evaluate(c).score for c in test]))
    rows = []
    for name, config in predictors.items():
        for n in sizes:
            predictor = make_predictor(benchmark.space, config)
            _, fit_wall, fit_cpu = timed(predictor.fit, queried[:n], scores[:n], np.random.default_rng([repeat, n]))
            (mean, std), predict_wall, predict_cpu = timed(predictor.predict, test)
            rows.append(
                {
                    "benchmark": benchmark.name,
                    "predictor": name,
                    "queried": n,
                    "repeat": repeat,
                    "kendall_tau": kendall_tau(mean, truth),
                    "within_one_std": float(np.mean(np.abs(truth - mean) <= std)),
                    "fit_wall_s": fit_wall,
                    "fit_cpu_s": fit_cpu,
                    "predict_wall_s_per_cell": predict_wall / num_test,
                    "predict_cpu_s_per_cell": predict_cpu / num_test,
                    "query_wall_s_per_cell": query_wall / num_test,
                    "query_cpu_s_per_cell": query_cpu / num_test,
                }
            )
            print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
    return rows


#: Medians over the repeats in the summary.
TIMES = (
    "within_one_std",
    "fit_wall_s",
    "fit_cpu_s",
    "predict_wall_s_per_cell",
    "predict_cpu_s_per_cell",
    "query_wall_s_per_cell",
    "query_cpu_s_per_cell",
)


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["benchmark"], row["predictor"], row["queried"]), []).append(row)
    summary = []
    for (benchmark, predictor, n), group in groups.items():
        taus = np.array([r["kendall_tau"] for r in group])
        entry = {"benchmark": benchmark, "predictor": predictor, "queried": n, "repeats": len(group)}
        entry["kendall_tau_mean"] = float(taus.mean())
        entry["kendall_tau_sem"] = float(taus.std(ddof=1) / np.sqrt(len(taus))) if len(taus) > 1 else 0.0
        for key in TIMES:
            if key in group[0]:
                entry[key] = float(np.median([r[key] for r in group]))
        summary.append(entry)
    return summary


def report(summary: list[dict]) -> None:
    for entry in summary:
        print(
            f"{entry['benchmark']:16} {entry['predictor']:5} n={entry['queried']:<4} "
            f"tau {entry['kendall_tau_mean']:.3f} ± {entry['kendall_tau_sem']:.3f}  "
            f"in 1 std {entry['within_one_std']:.2f}  fit {entry['fit_wall_s']:.2f} s wall "
            f"{entry['fit_cpu_s']:.2f} s cpu  predict {entry['predict_cpu_s_per_cell'] * 1e6:.0f} us/cell cpu  "
            f"query {entry['query_wall_s_per_cell'] * 1e6:.1f} us/cell wall"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", nargs="+", default=["nb101", "nb201-cifar100"])
    parser.add_argument("--predictors", nargs="+", default=list(PREDICTORS), choices=list(PREDICTORS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[20, 50, 100, 300])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--test", type=int, default=1000, help="unqueried cells each predictor ranks")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a predictor setting")
    parser.add_argument("--data", default=None, help="the shared data folder (default: RLNAS_DATA)")
    parser.add_argument("--out", type=Path, default=None, help="a JSON file for every row and the summary")
    parser.add_argument("--summarise", type=Path, default=None, help="only summarise the rows of an --out file")
    args = parser.parse_args()
    if args.summarise is not None:
        stored = json.loads(args.summarise.read_text())
        stored["summary"] = summarise(stored["rows"])
        report(stored["summary"])
        args.summarise.write_text(json.dumps(stored, indent=1) + "\n")
        return

    try:
        overrides = {key: ast.literal_eval(value) for key, _, value in (item.partition("=") for item in args.set)}
    except (ValueError, SyntaxError):
        parser.error(f"--set takes KEY=VALUE with a Python literal as VALUE (num_threads=1, loss='mse'): {args.set}")
    fields = {name: {f.name for f in dataclasses.fields(PREDICTORS[name])} for name in args.predictors}
    unknown = set(overrides) - set().union(*fields.values())
    if unknown:
        parser.error(f"no predictor of {args.predictors} has the setting(s) {sorted(unknown)}")
    try:  # each predictor takes the settings it has (max_features is the path predictor's only)
        predictors = {
            name: PREDICTORS[name](**{k: v for k, v in overrides.items() if k in fields[name]})
            for name in args.predictors
        }
        benchmarks = [load_benchmark(name, args.data) for name in args.benchmarks]
    except RlnasError as exc:
        parser.error(str(exc))
    rows = []
    for benchmark in benchmarks:
        for repeat in range(args.repeats):
            rows += measure(benchmark, predictors, args.sizes, repeat, args.test)
    summary = summarise(rows)
    report(summary)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        settings = {name: dataclasses.asdict(config) for name, config in predictors.items()}
        meta = {"torch_threads": torch.get_num_threads(), "settings": settings, "test_cells": args.test}
        meta["load_average_at_end"] = os.getloadavg()  # wall times grow with the machine's load
        args.out.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
