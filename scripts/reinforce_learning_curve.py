"""Does the REINFORCE controller learn? Mean reward per update over one run on NB201-cifar10.

    python scripts/reinforce_learning_curve.py [--budget 1000] [--seed 0] [--out docs/reinforce_learning.png]

Runs the `reinforce` strategy with its default hyperparameters, plots the mean reward (validation
accuracy of the valid cells drawn) of every update with a moving average, marks the updates drawn
at a raised temperature (the progress guard), and prints the means of the first and last 10 updates.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from rlnas.benchmarks.nb201 import NB201Benchmark
from rlnas.experiments.compare import run_seed
from rlnas.strategies.reinforce import Reinforce


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="run 0 of `rlnas compare --seed SEED`")
    parser.add_argument("--out", type=Path, default=Path("runs/reinforce_learning.png"))
    args = parser.parse_args()

    benchmark = NB201Benchmark("cifar10")
    strategy = Reinforce()
    start = time.perf_counter()
    history = strategy.run(benchmark, args.budget, run_seed(args.seed, 0))
    seconds = time.perf_counter() - start
    stats = strategy.stats
    rewards = np.array([s["mean_reward"] for s in stats])
    queries = np.array([s["queries"] for s in stats])
    hot = np.array([s["temperature"] > 1 for s in stats])

    window = min(10, len(rewards))  # a short run (a small --budget) has fewer updates
    smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(np.arange(len(rewards)), rewards, ".", ms=3, alpha=0.35, color="tab:blue", label="mean reward of an update")
    ax.plot(np.arange(window - 1, len(rewards)), smooth, color="tab:blue", label=f"moving average ({window} updates)")
    if hot.any():
        ax.plot(np.flatnonzero(hot), rewards[hot], ".", ms=3, color="tab:red", label="update at raised temperature")
    ax.axhline(benchmark.all_scores().mean(), color="grey", ls=":", label="mean over all NB201 cells")
    ax.axhline(benchmark.best_possible, color="black", ls="--", lw=0.8, label="best NB201 cell")
    ax.set_xlabel(f"update (batch of {strategy.config.batch_size} replicas)")
    ax.set_ylabel(f"mean {benchmark.metric}")
    ax.set_ylim(max(0.5, np.nanmin(rewards) - 0.02), benchmark.best_possible + 0.01)
    ax.set_title(f"REINFORCE controller on {benchmark.name}, budget {args.budget} unique queries")
    ax.legend(loc="lower right", fontsize=8)
    twin = ax.secondary_xaxis(
        "top",
        functions=(
            lambda u: np.interp(u, np.arange(len(queries)), queries),
            lambda q: np.interp(q, queries, np.arange(len(queries))),
        ),
    )
    twin.set_xlabel("unique queries so far")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)

    print(
        f"{len(stats)} updates, {sum(s['draws'] for s in stats)} draws, {len(history)} unique queries "
        f"in {seconds:.1f} s; best {max(e.score for e in history):.4f} (benchmark best {benchmark.best_possible:.4f})"
    )
    print(f"mean reward, first 10 updates: {np.nanmean(rewards[:10]):.4f}")
    print(f"mean reward, last 10 updates:  {np.nanmean(rewards[-10:]):.4f}")
    print(f"updates at raised temperature: {int(hot.sum())}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
