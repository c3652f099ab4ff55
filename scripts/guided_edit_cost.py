"""The wall time of guided edits against uniform ones: the same policy, runs and budget, interleaved.

    python scripts/guided_edit_cost.py nb101 taught-climb-no-nb101 --budget 300 --runs 10

Prints the mean seconds per run of `learned:POLICY:uniform` and `learned:POLICY:guided` and their
ratio (the machine is shared: only the ratio of runs made in the same command means anything).
"""

from __future__ import annotations

import argparse
import time

from rlnas.benchmarks import load_benchmark
from rlnas.errors import RlnasError
from rlnas.experiments.compare import run_seed
from rlnas.strategies import make_strategy
from rlnas.strategies.runner import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark")
    parser.add_argument("policy", help="a general policy file or a shipped policy's name")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    try:
        bench = load_benchmark(args.benchmark)
        strategies = {edits: f"learned:{args.policy}:{edits}" for edits in ("uniform", "guided")}
        make_strategy(strategies["uniform"])  # a wrong policy name fails here, before any run
    except RlnasError as exc:
        raise SystemExit(f"error: {exc}") from None
    wall = dict.fromkeys(strategies, 0.0)
    for run in range(args.runs):
        for edits, spec in strategies.items():
            start = time.perf_counter()
            run_search(make_strategy(spec), bench, args.budget, run_seed(args.seed, run))
            wall[edits] += time.perf_counter() - start
    seconds = ", ".join(f"{edits} {total / args.runs:.2f} s" for edits, total in wall.items())
    ratio = wall["guided"] / wall["uniform"]
    print(f"{args.benchmark}, {args.runs} runs of {args.budget}: {seconds} per run; guided / uniform {ratio:.2f}")


if __name__ == "__main__":
    main()
