"""Where a general policy departs from its teacher: its move against the teacher's, by situation.

    python scripts/teacher_agreement.py runs/taught-no-nb101/policy.pt nb101 --episodes 10 --budget 100
    python scripts/teacher_agreement.py taught-climb-no-nb201 nb201-imagenet --teacher climb --uniform --seed 1000

Steps the policy's own episodes (greedy; with --uniform its edits drawn at random, as `learned:NAME:uniform`)
on a benchmark and counts, in each state, whether the current cell is the run's best, what the teacher
(`TEACHERS`, local search by default) would do there (edit, return to elite k, fresh) and what the policy
does. A policy that copies the teacher has only matching pairs; the counts show where it departs (for
instance editing away from a worse cell instead of going back to the best).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from rlnas.agents.general_policy import GeneralPolicy
from rlnas.benchmarks import load_benchmark
from rlnas.env.search_episode import CURRENT_IS_BEST, TEACHERS, SearchEpisodeEnv, Task
from rlnas.errors import RlnasError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", help="a general policy file or a shipped policy's name")
    parser.add_argument("benchmark")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--teacher", default="local_search", choices=list(TEACHERS))
    parser.add_argument("--uniform", action="store_true", help="the policy's edits at random (:uniform)")
    parser.add_argument("--seed", type=int, default=0, help="episode e starts from seed + e")
    parser.add_argument("--data", default=None, help="the data folder (default: RLNAS_DATA)")
    args = parser.parse_args()
    try:
        policy = GeneralPolicy.load(args.policy)
        bench = load_benchmark(args.benchmark, data=args.data)
    except RlnasError as exc:
        raise SystemExit(f"error: {exc}") from None
    env = SearchEpisodeEnv(Task(bench, (args.budget, args.budget), scale=(0.0, 1.0)), policy.episode)
    first = policy.episode.first_edit

    def kind(action: int) -> str:
        return "edit" if action >= first else f"return to elite {action}" if action >= 1 else "fresh"

    counts: Counter = Counter()
    teacher, teacher_rng = TEACHERS[args.teacher], np.random.default_rng(0)
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=args.seed + episode)
        edit_rng = np.random.default_rng(args.seed + episode) if args.uniform else None
        done = False
        while not done:
            action = policy.act(obs, edit_rng)
            where = "at the best" if obs["context"][CURRENT_IS_BEST] > 0.5 else "elsewhere"
            counts[(where, kind(teacher(obs, teacher_rng)), kind(action))] += 1
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    episodes = f"{args.episodes} episodes of budget {args.budget}"
    print(f"{args.policy} on {args.benchmark} against the {args.teacher} teacher: {episodes}")
    print("| current cell | teacher | policy | states |\n|---|---|---|---|")
    for (where, teacher, chosen), n in sorted(counts.items()):
        print(f"| {where} | {teacher} | {chosen} | {n} |")


if __name__ == "__main__":
    main()
