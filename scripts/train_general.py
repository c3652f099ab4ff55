"""Train a general policy on a task list: an alias of `rlnas train --tasks FILE`, with its first options.

    python scripts/train_general.py --tasks FILE.toml [--steps 20000] [--envs 4] [--seed 0] --out DIR

is `rlnas train --tasks FILE.toml --steps 20000 --envs 4 --seed 0 --out DIR`: it writes DIR/policy.pt
(a general policy: `learned:DIR/policy.pt`), DIR/episodes.json (one row per finished episode:
environment steps, task, budget, return, best score, epsilon), DIR/training.png and the checkpoint
(`rlnas train --resume DIR` continues), and prints the wall time. `rlnas train --help` has every option.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from rlnas.errors import RlnasError
from rlnas.experiments.general_train import run_general_train_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="the data folder (default: RLNAS_DATA)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        run_general_train_command(
            console=Console(),
            tasks=args.tasks,
            without=[],
            executor=None,
            out=args.out,
            resume=None,
            address=None,
            data=args.data,
            total_env_steps=args.steps,
            envs=args.envs,
            seed=args.seed,
        )
    except RlnasError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
