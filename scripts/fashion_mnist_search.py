"""Searches on real data: Fashion-MNIST children trained for real, against a hand-written CNN.

1. rs and re (population 10, tournament 3: the default population of 30 would make 20 children
   random samples) with 20 children each, the same seeds, the same training settings;
2. a hand-written small CNN of similar size trained exactly as every child is;
3. the wall time of one rs search on Ray with 1 and with 2 workers (fresh result databases).

    RLNAS_CACHE=/tmp/fm python scripts/fashion_mnist_search.py --out docs/results/fashion-mnist-search.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from torch import nn

from rlnas.benchmarks.training import TrainingBenchmark, TrainingSettings, train_network
from rlnas.models import count_parameters
from rlnas.spaces import NB101_SPACE
from rlnas.strategies.baselines import RandomSearch, RegularizedEvolution
from rlnas.strategies.runner import RayExecutor, run_search


def hand_written_cnn(channels: int, classes: int) -> nn.Module:
    """Three conv-BN-ReLU blocks with two max-pools, global average pooling and a linear layer."""

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(
        *block(1, channels),
        *block(channels, channels),
        nn.MaxPool2d(2),
        *block(channels, 2 * channels),
        nn.MaxPool2d(2),
        *block(2 * channels, 4 * channels),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * channels, classes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--ray-children", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ray-only", action="store_true", help="Only the Ray timing (step 3).")
    args = parser.parse_args()
    settings = TrainingSettings(epochs=2, width=16, depth=1, train_images=2000, eval_images=2000)
    database = Path(args.out).with_suffix(".sqlite")
    report: dict = {"settings": settings.__dict__, "children": args.children, "seed": args.seed}

    benchmark = TrainingBenchmark("fashion-mnist", NB101_SPACE, settings, database)
    searches = () if args.ray_only else (("rs", RandomSearch()), ("re", RegularizedEvolution(10, 3)))
    for name, strategy in searches:
        start = time.perf_counter()
        result = run_search(strategy, benchmark, args.children, np.random.default_rng(args.seed))
        best = result.best
        report[name] = {
            "best_validation": best.metrics["validation_accuracy"],
            "best_test": best.metrics["test_accuracy"],
            "best_parameters": best.metrics["parameters"],
            "best_arch": NB101_SPACE.to_text(best.cell),
            "validation_of_all": [e.metrics["validation_accuracy"] for e in result.history],
            "wall_seconds": time.perf_counter() - start,
        }
        print(name, json.dumps({k: v for k, v in report[name].items() if k != "validation_of_all"}))

    if not args.ray_only:
        model, metrics = train_network(lambda: hand_written_cnn(24, 10), benchmark.data, settings)
        report["hand_written_cnn"] = metrics | {"parameters": count_parameters(model)}
        print("hand-written CNN", json.dumps(report["hand_written_cnn"]))

    for workers in (1, 2):
        store = database.with_name(f"{database.stem}-ray{workers}.sqlite")
        store.unlink(missing_ok=True)  # fresh: every child is trained
        fresh = TrainingBenchmark("fashion-mnist", NB101_SPACE, settings, store)
        start = time.perf_counter()
        run_search(RandomSearch(), fresh, args.ray_children, np.random.default_rng(args.seed + 1),
                   executor=RayExecutor(workers))  # fmt: skip
        report[f"ray_{workers}_workers_seconds"] = time.perf_counter() - start
        print(f"ray, {workers} workers: {report[f'ray_{workers}_workers_seconds']:.1f} s")
    report["ray_speedup"] = report["ray_1_workers_seconds"] / report["ray_2_workers_seconds"]
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
