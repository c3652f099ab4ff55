"""Train a general policy on a task list (in-process Ape-X) and save it with its training curve.

    python scripts/train_general.py --tasks FILE.toml [--steps 20000] [--envs 4] [--seed 0] --out DIR

Writes DIR/policy.pt (a general policy: `learned:DIR/policy.pt`) and DIR/episodes.json (one row per
finished episode: environment steps, task, budget, return, best score, epsilon), and prints the wall
time. The task file's format is in `rlnas.agents.general_training`; docs/tasks/ has drafts.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from rlnas.agents.general_training import GeneralTrainConfig, load_task_file, train_general
from rlnas.env.search_episode import EpisodeConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="the data folder (default: RLNAS_DATA)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    tasks, episode = load_task_file(args.tasks, args.data)
    config = GeneralTrainConfig(seed=args.seed, total_env_steps=args.steps, envs=args.envs)
    config = replace(config, episode=EpisodeConfig(**episode))
    args.out.mkdir(parents=True, exist_ok=True)
    result = train_general(tasks, config)
    result.policy.info["task_file"] = str(args.tasks)
    result.policy.save(args.out / "policy.pt")
    (args.out / "episodes.json").write_text(json.dumps(result.episodes, indent=1) + "\n")
    print(
        f"{result.policy.info['env_steps']} steps, {result.policy.info['updates']} updates, "
        f"{result.wall_seconds:.0f} s -> {args.out / 'policy.pt'}"
    )


if __name__ == "__main__":
    main()
