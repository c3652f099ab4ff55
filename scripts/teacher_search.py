"""How well each teacher searches on its own: mean regret of its episodes at several budgets.

    python scripts/teacher_search.py nb101 --budgets 20,50,100,150,300,1000 --runs 100 --seed 1000 [--edits guided]

A teacher (`rlnas.env.search_episode.TEACHERS`) acts in the episodes of the `taught-*` policies
(unseen_edits_only, keep_better_only, relabel_kinds); run r of a budget starts from seed + r. The regret
is in percentage points of the benchmark's best score, ± the 95% half-width. With `--edits guided` the
teacher's edits and fresh samples are drawn by `rlnas.env.edit_guide.EditGuide` instead, after its random design (as
`learned:NAME:guided`). A policy trained with a teacher's demonstrations is measured against this to see
whether it learned more than its teacher.
"""

from __future__ import annotations

import argparse

import numpy as np

from rlnas.benchmarks import Benchmark, load_benchmark
from rlnas.env.edit_guide import EditGuide
from rlnas.env.search_episode import TEACHERS, EpisodeConfig, SearchEpisodeEnv, Task
from rlnas.errors import RlnasError


def random_design(bench: Benchmark, guide: EditGuide, rng: np.random.Generator) -> dict:
    """The start of a guided run (as `learned:NAME:guided`): the guide's initial samples, then the best."""
    session = bench.session(budget=None, rng=rng)
    while session.unique_queries < guide.config.initial_samples:
        session.query(bench.space.sample(rng))
    return {"session": session, "cell": session.best.cell}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark")
    parser.add_argument("--teachers", default=",".join(TEACHERS))
    parser.add_argument("--budgets", default="20,50,100,150,300")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--edits", choices=("uniform", "guided"), default="uniform")
    parser.add_argument("--data", default=None, help="the data folder (default: RLNAS_DATA)")
    args = parser.parse_args()
    teachers, budgets = args.teachers.split(","), [int(b) for b in args.budgets.split(",")]
    if unknown := [t for t in teachers if t not in TEACHERS]:
        parser.error(f"no teacher {unknown[0]!r}; choose among {', '.join(TEACHERS)}")
    try:
        bench = load_benchmark(args.benchmark, data=args.data)
    except RlnasError as exc:
        raise SystemExit(f"error: {exc}") from None
    if bench.best_possible is None:
        raise SystemExit(f"error: {args.benchmark} has no known best score to measure regret against")
    episode = EpisodeConfig(unseen_edits_only=True, keep_better_only=True, relabel_kinds=True)
    guided = args.edits == "guided"
    print(f"{args.benchmark}, {args.runs} runs from seed {args.seed}, {args.edits} edits: mean regret (points)")
    print("| teacher | " + " | ".join(f"@{b}" for b in budgets) + " |\n" + "|---" * (len(budgets) + 1) + "|")
    for name in teachers:
        cells = []
        for budget in budgets:
            env = SearchEpisodeEnv(Task(bench, (budget, budget), scale=(0.0, 1.0)), episode)
            regrets = []
            for run in range(args.runs):
                rng, done = np.random.default_rng(args.seed + run), False
                guide = EditGuide(len(bench.space.op_names))
                design = random_design(bench, guide, rng) if guided else None
                obs, info = env.reset(seed=args.seed + run, options=design)
                while not done:
                    action = TEACHERS[name](obs, rng)
                    if guided and action >= episode.first_edit and (targets := env.unseen_edit_targets()):
                        action = guide.choose(env.session.history, targets, rng)
                    if guided and action == 0:
                        env.propose(0, guide.choose_sample(env.session, bench.space, rng))
                    obs, _, terminated, truncated, info = env.step(action)
                    done = terminated or truncated
                regrets.append(100 * (bench.best_possible - info["best_score"]))
            cells.append(f"{np.mean(regrets):.3f} ± {1.96 * np.std(regrets, ddof=1) / np.sqrt(len(regrets)):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
