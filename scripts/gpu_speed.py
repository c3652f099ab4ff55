"""The same work on the CPU and on a GPU, timed in one process: the GPU's speed as a ratio of the CPU's.

    python scripts/gpu_speed.py [--env-steps 1000] [--json docs/results/gpu-speed-h100.json]

Run it where torch sees a GPU. It measures:

1. Children of `train:mnist-5k` (NB101 and NB201 cells), at the default `TrainingSettings` (2 epochs on
   5,000 images, width 16, one cell per stage) and at width 64 (one epoch on 500 images): training seconds
   on each device. A CPU child trains on one thread, as the training benchmark always does.
2. General-policy training in process (`train_general`, nb201-cifar10, budgets 20-300) with the shipped
   network size and batch, and with a larger network (d_model 128, 4 layers, batch 256): environment
   steps per second on each device, learning included (from step 100). The CPU side uses torch's default threads.

Each row is one timing (the machines are shared and noisy): read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import numpy as np
import torch

from rlnas.agents.general_training import GeneralTrainConfig, train_general
from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.training import TrainingBenchmark, TrainingSettings
from rlnas.env.search_episode import Task
from rlnas.spaces import NB101_SPACE, NB201_SPACE
from rlnas.spaces.nb201 import nb201_string_to_cell

DEVICES = ("cpu", "cuda")
CHILD_SETTINGS = {
    "default": TrainingSettings(),
    "width 64, 1 epoch on 500 images": TrainingSettings(width=64, epochs=1, train_images=500),
}
NETWORKS = {
    "shipped size": {},
    "d_model 128, 4 layers, batch 256": {"d_model": 128, "num_layers": 4, "batch_size": 256},
}
LEARNING_STARTS = 100
"""Environment steps before the first update in the training timings (the shipped 500 would leave few updates)."""


def child_seconds(folder: str) -> list[dict]:
    cells = {
        "nb101": (NB101_SPACE, NB101_SPACE.sample(np.random.default_rng(0))),
        "nb201": (NB201_SPACE, nb201_string_to_cell("123040")),
    }
    rows = []
    for settings_name, settings in CHILD_SETTINGS.items():
        for space_name, (space, cell) in cells.items():
            row = {"work": f"child {space_name}, {settings_name}"}
            for device in DEVICES:
                database = os.path.join(folder, f"{device}-{settings_name}-{space_name}.sqlite")  # fresh: it trains
                benchmark = TrainingBenchmark(
                    "mnist-5k", space, dataclasses.replace(settings, device=device), database=database
                )
                result = benchmark.evaluate(cell)
                row[f"{device}_seconds"] = result.metrics["training_time"]
                row[f"{device}_validation_accuracy"] = result.metrics["validation_accuracy"]
            row["gpu_speedup"] = row["cpu_seconds"] / row["cuda_seconds"]
            rows.append(row)
            print(row, flush=True)
    return rows


def training_steps_per_second(env_steps: int) -> list[dict]:
    tasks = [Task(load_benchmark("nb201-cifar10"), (20, 300), noise=0.02)]
    rows = []
    for name, overrides in NETWORKS.items():
        config = GeneralTrainConfig(seed=0, total_env_steps=env_steps, learning_starts=LEARNING_STARTS, **overrides)
        row = {"work": f"general training, {name}", "env_steps": env_steps}
        for device in DEVICES:
            start = time.perf_counter()
            result = train_general(tasks, config, device)
            row[f"{device}_steps_per_second"] = env_steps / (time.perf_counter() - start)
            row["updates"] = result.policy.info["updates"]
        row["gpu_speedup"] = row["cuda_steps_per_second"] / row["cpu_steps_per_second"]
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-steps", type=int, default=1000, help="environment steps of each training timing")
    parser.add_argument("--json", help="write the rows and the machine's description here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch sees no GPU here: run this script on a machine with one")
    with tempfile.TemporaryDirectory() as folder:
        rows = child_seconds(folder) + training_steps_per_second(args.env_steps)
    machine = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
    }
    print(machine)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
