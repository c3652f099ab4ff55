"""A figure of per-budget tables (`scripts/budget_table.py --json`): regret against the budget, per benchmark.

    cd docs/results && python ../../scripts/plot_budget_tables.py --out ../figures/guided-unseen.png \\
        --panel "NB101=guided-no-nb101-nb101.json,general-nb101-in-distribution.json:tpe" \\
        --panel "nb201-imagenet=guided-no-nb201-nb201-imagenet.json,general-no-nb201-nb201-imagenet.json:tpe"

A panel is TITLE=FILE[:STRATEGY;STRATEGY...],...: the strategies of each file (all of them when none are
named), their budgets merged across the files (a strategy's later files add budgets).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlnas.experiments.plots import plot_regret_by_budget


def read_panel(spec: str) -> tuple[str, dict[str, dict[str, dict]]]:
    title, _, files = spec.partition("=")
    if not files:
        raise SystemExit(f"error: --panel {spec!r} needs TITLE=FILE[:STRATEGY;...],...")
    strategies: dict[str, dict[str, dict]] = {}
    for item in files.split(","):
        path, _, names = item.partition(":")
        try:
            table = json.loads(Path(path).read_text())["strategies"]
        except (OSError, ValueError, KeyError) as exc:
            raise SystemExit(f"error: {path} is no budget table JSON ({exc}); use a budget_table.py --json") from None
        for name in names.split(";") if names else table:
            if name not in table:
                raise SystemExit(f"error: {path} has no strategy {name!r}; it has {', '.join(table)}")
            strategies.setdefault(name, {}).update(table[name]["budgets"])
    return title, strategies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panel", action="append", required=True, help="TITLE=FILE[:STRATEGY;...],...")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plot_regret_by_budget(dict(read_panel(spec) for spec in args.panel), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
