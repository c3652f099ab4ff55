"""Control for the REINFORCE comparison: random search with the rejection sampler on NB101.

    RLNAS_DATA=../shared/data python scripts/rs_rejection_control.py [--budget 300] [--runs 100] [--seed 0]

`rs` draws from NB101's matched sampler (uniform over valid cells). A fresh REINFORCE controller
instead draws each edge with probability about 1/2 and each op uniformly, which is BANANAS'
`random_cell_adj` rejection sampler (`DAGSpace.sample_rejection`); that is also the random search
of the BANANAS table. This script runs that random search with the same per-run generators as
`rlnas compare --seed SEED` and prints mean regret ± 95% CI (percentage points) at the summary
budgets, to separate what the controller learns from what its starting distribution gives.
"""

from __future__ import annotations

import argparse

import numpy as np

from rlnas.benchmarks import load_benchmark
from rlnas.experiments.compare import run_seed, summary_budgets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    benchmark = load_benchmark("nb101")
    curves = []
    for run in range(args.runs):
        benchmark_rng, search_rng = run_seed(args.seed, run).spawn(2)  # as Strategy.run splits it
        session = benchmark.session(args.budget, benchmark_rng)
        while not session.exhausted:
            session.query(benchmark.space.sample_rejection(search_rng))
        curves.append(np.maximum.accumulate([e.score for e in session.history]))
    regret = (benchmark.best_possible - np.array(curves)) * 100
    print(f"nb101, random search with the rejection sampler, {args.runs} runs: mean regret ± 95% CI (pp)")
    for b in summary_budgets(args.budget):
        r = regret[:, b - 1]
        print(f"  {b:5d}: {r.mean():.2f} ± {1.96 * r.std(ddof=1) / np.sqrt(args.runs):.2f}")


if __name__ == "__main__":
    main()
