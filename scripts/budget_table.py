"""Mean regret at several budgets, a budget-aware strategy (learned:, agent+predictor:) run once per budget.

    python scripts/budget_table.py -b nb101 --strategies learned:general-no-nb101,rs,rw,ls,re,reinforce,tpe \
        --budgets 20,50,100,150,300,1000 --runs 100 --seed 1000 --workers 2 --out runs/table-nb101 \
        --json docs/results/general-no-nb101-nb101.json

Every comparison is an `rlnas compare` folder under --out (interrupt and rerun: finished runs are
kept). Prints the Markdown table (the first strategy's differences to the others with 95% Welch
intervals) and writes it with the numbers to --json. See `rlnas.experiments.budget_table`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rlnas.errors import RlnasError
from rlnas.experiments.budget_table import run_budget_table, table_markdown
from rlnas.experiments.compare import CompareConfig
from rlnas.files import write_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-b", "--benchmark", required=True)
    parser.add_argument("--strategies", required=True, help="comma-separated; the first is compared with the others")
    parser.add_argument("--budgets", default="20,50,100,150,300,1000")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--repeat", default="mean")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", default=None, help="the data folder (default: RLNAS_DATA)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    try:
        budgets = [int(b) for b in args.budgets.split(",")]
    except ValueError:
        parser.error(f"--budgets is a comma-separated list of integers, not {args.budgets!r}")
    config = CompareConfig(
        args.benchmark, tuple(args.strategies.split(",")), max(budgets), args.runs, args.seed, args.repeat
    )
    started = time.perf_counter()
    try:
        table = run_budget_table(config, budgets, args.out, args.data, args.workers, on_progress=print)
    except RlnasError as exc:
        raise SystemExit(f"error: {exc}") from None
    table["command"] = "python scripts/budget_table.py " + " ".join(
        f"--{k} {v}" for k, v in vars(args).items() if v is not None and k not in ("data",)
    )
    table["wall_seconds"] = time.perf_counter() - started
    markdown = table_markdown(table)
    print(markdown)
    if args.json:
        write_atomic(args.json, json.dumps(table | {"markdown": markdown}, indent=1) + "\n")


if __name__ == "__main__":
    main()
