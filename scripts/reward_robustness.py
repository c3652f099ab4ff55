"""Robustness of the learned searcher to reward shaping: NB101 quality at 150 queries, one table.

    RLNAS_DATA=../shared/data python scripts/reward_robustness.py --out runs/robustness

Trains one policy per (alpha, shaping form) with the shipped NB101 settings but a shorter run
(`--steps`, default 25,000 environment steps, seed 0), two trainings at a time, then compares all
of them with random search in one `rlnas compare` (budget 150, `--runs` runs, evaluation seeds
from 1000, disjoint from the training seed). Finished trainings and runs are reused on a rerun.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlnas.agents.policy import SHIPPED_POLICIES

ALPHAS = (1, 6, 16)
FORMS = ("power", "exp")


def train_one(out: Path, alpha: int, form: str, steps: int) -> Path:
    folder = out / f"alpha{alpha}-{form}"
    if (folder / "policy.pt").exists() and json.loads((folder / "run.json").read_text())["config"][
        "total_env_steps"
    ] == steps:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    shipped = (SHIPPED_POLICIES / "nb101.toml").read_text().splitlines()
    kept = [line for line in shipped if not line.startswith(("alpha", "shaping", "total_env_steps"))]
    config.write_text("\n".join([*kept, f"alpha = {alpha}.0", f'shaping = "{form}"', f"total_env_steps = {steps}"]))
    command = ["rlnas", "train", "-b", "nb101", "--config", str(config), "--seed", "0", "--out", str(folder)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/robustness"))
    parser.add_argument("--steps", type=int, default=25_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    combos = [(a, f) for a in ALPHAS for f in FORMS]
    with ThreadPoolExecutor(2) as pool:
        folders = list(pool.map(lambda c: train_one(args.out, *c, args.steps), combos))
    strategies = ",".join(["rs", *(f"agent:{folder}" for folder in folders)])
    subprocess.run(
        [
            "rlnas",
            "compare",
            "-b",
            "nb101",
            "--strategies",
            strategies,
            "--budget",
            "150",
            "--runs",
            str(args.runs),
            "--seed",
            "1000",
            "--out",
            str(args.out / "compare"),
        ],
        check=True,
    )
    summary = json.loads((args.out / "compare" / "summary.json").read_text())
    print(f"\nNB101, mean regret of best test accuracy at 150 queries (percentage points, ± 95% CI), {args.runs} runs")
    print("| alpha | power | exp |\n|---|---|---|")
    for alpha in ALPHAS:
        cells = []
        for form in FORMS:
            entry = summary["strategies"][f"agent:{args.out / f'alpha{alpha}-{form}'}"]["budgets"]["150"]
            cells.append(f"{entry['mean_regret'] * 100:.2f} ± {entry['ci95'] * 100:.2f}")
        print(f"| {alpha} | {' | '.join(cells)} |")
    rs = summary["strategies"]["rs"]["budgets"]["150"]
    print(f"random search: {rs['mean_regret'] * 100:.2f} ± {rs['ci95'] * 100:.2f}")


if __name__ == "__main__":
    sys.exit(main())
