"""Does a searcher respond to the scores it observes? Run it on a benchmark and on the same benchmark
with its scores' halves swapped, from the same seeds, and compare the routes and the results.

    python scripts/responds_to_scores.py -b nb101 --strategies learned:general-no-nb101,re,ls \
        --budget 100 --runs 30 --seed 1000 --json docs/results/responds-nb101.json

`swap_halves` (rlnas.benchmarks.transformed) makes the architectures below the median the better
half, each half keeping its order: the original best becomes a median architecture. A searcher that
replays a memorised route asks the same cells on both tables and finds only median cells on the
swapped one. Reported per strategy: the runs whose asked cells differ between the two tables, the
median query at which they first differ, the overlap of the two runs' cells (Jaccard), and the mean
regret on each table (percentage points of its own scale, against its own best architecture).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.transformed import TransformedScores, swap_halves
from rlnas.experiments.compare import run_seed
from rlnas.files import write_atomic
from rlnas.strategies import make_strategy
from rlnas.strategies.runner import run_search


def route(strategy: str, benchmark, budget: int, seed: int, run: int) -> tuple[list[str], float]:
    """The hashes of the unique cells in the order asked, and the best score found."""
    result = run_search(make_strategy(strategy), benchmark, budget, run_seed(seed, run))
    return [e.hash for e in result.history], max(e.score for e in result.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-b", "--benchmark", required=True)
    parser.add_argument("--strategies", required=True)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--data", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    base = load_benchmark(args.benchmark, args.data)
    scores = np.asarray(base.all_scores(), dtype=np.float64)
    swapped = TransformedScores(base, swap_halves(scores), name=f"{base.name}~swapped")
    best = {"original": float(scores.max()), "swapped": float(swapped.all_scores().max())}
    report = {"benchmark": base.name, "budget": args.budget, "runs": args.runs, "seed": args.seed, "strategies": {}}
    for strategy in args.strategies.split(","):
        differ, first, overlap, regret = 0, [], [], {"original": [], "swapped": []}
        for r in range(args.runs):
            cells_a, best_a = route(strategy, base, args.budget, args.seed, r)
            cells_b, best_b = route(strategy, swapped, args.budget, args.seed, r)
            regret["original"].append(100 * (best["original"] - best_a))
            regret["swapped"].append(100 * (best["swapped"] - best_b))
            overlap.append(len(set(cells_a) & set(cells_b)) / len(set(cells_a) | set(cells_b)))
            if cells_a != cells_b:
                differ += 1
                same = (k for k, (a, b) in enumerate(zip(cells_a, cells_b, strict=False), 1) if a != b)
                first.append(next(same, min(len(cells_a), len(cells_b)) + 1))
        entry = {
            "runs_whose_route_differs": differ,
            "median_first_difference": float(np.median(first)) if first else None,
            "mean_overlap": float(np.mean(overlap)),
            "mean_regret_original": float(np.mean(regret["original"])),
            "mean_regret_swapped": float(np.mean(regret["swapped"])),
        }
        report["strategies"][strategy] = entry
        print(strategy, json.dumps(entry))
    if args.json:
        write_atomic(args.json, json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
