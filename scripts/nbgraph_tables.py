"""Measure the NAS-Bench-Graph tables as rlnas loads them, and the package's canonicalisation.

    python scripts/nbgraph_tables.py --out docs/results/nbgraph-tables.json

Per dataset: rows, best validation score, the test score of that architecture, the best test score,
and the load time in a fresh process (the space's form cache built beforehand, as after a first
run). Then the one-time cost of that cache, and how the package's `Arch.valid_hash` folds the
(link, ops) forms into architectures compared with plain graph isomorphism (`Cell.key`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

LOAD = """
import json, time
t = time.perf_counter()
from rlnas.benchmarks import load_benchmark
b = load_benchmark("nbgraph-{dataset}")
seconds = time.perf_counter() - t
scores, test = b.all_scores(), b.metric_values(b.metric.replace("validation", "test"))
best = int(scores.argmax())
print(json.dumps({{"rows": len(scores), "metric": b.metric, "best_validation": float(scores[best]),
    "test_of_best_validation": float(test[best]), "best_test": float(test.max()), "load_seconds": seconds}}))
"""

BUILD = """
import time
t = time.perf_counter()
from rlnas.spaces import {space} as space
n = space.num_cells
print(time.perf_counter() - t)
"""


def run(code: str, env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if result.returncode:
        raise SystemExit(result.stderr)
    return result.stdout.strip()


def folding(op_names: tuple[str, ...]) -> dict:
    """Forms, isomorphism classes and package classes of one op set."""
    from nas_bench_graph.architecture import Arch

    from rlnas.spaces.nbgraph import arch_to_cell

    skip = op_names.index("skip")
    keys_of_class: dict[int, set] = defaultdict(set)
    classes_of_key: dict[object, set] = defaultdict(set)
    forms = all_skip = 0
    for link in itertools.product(range(1), range(2), range(3), range(4)):
        for ops in itertools.product(range(len(op_names)), repeat=4):
            forms += 1
            if ops == (skip,) * 4:
                all_skip += 1
                continue
            key = Arch(list(link), [op_names[o] for o in ops]).valid_hash()
            iso = arch_to_cell(link, ops).key
            keys_of_class[iso].add(key)
            classes_of_key[key].add(iso)
    return {
        "forms": forms,
        "all_skip_forms": all_skip,
        "isomorphism_classes": len(keys_of_class),
        "isomorphism_classes_split_by_the_package": sum(len(k) > 1 for k in keys_of_class.values()),
        "package_classes": len(classes_of_key),
        "package_classes_of_several_isomorphism_classes": sum(len(c) > 1 for c in classes_of_key.values()),
        "most_isomorphism_classes_in_one_package_class": max(len(c) for c in classes_of_key.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/nbgraph-tables.json"))
    args = parser.parse_args()
    from rlnas.benchmarks.nbgraph import DATASETS
    from rlnas.spaces.nbgraph import NBGRAPH_OPS, NBGRAPH_PROTEINS_OPS

    with tempfile.TemporaryDirectory() as empty:
        build = {
            space: float(run(BUILD.format(space=space), {"RLNAS_CACHE": empty}))
            for space in ("NBGRAPH_SPACE", "NBGRAPH_PROTEINS_SPACE")
        }
    run(BUILD.format(space="NBGRAPH_SPACE"))  # the forms caches are in place for the loads below
    run(BUILD.format(space="NBGRAPH_PROTEINS_SPACE"))
    tables = {dataset: json.loads(run(LOAD.format(dataset=dataset))) for dataset in DATASETS}
    report = {
        "tables": tables,
        "form_cache_build_seconds": build,
        "folding": {"nbgraph": folding(NBGRAPH_OPS), "nbgraph-proteins": folding(NBGRAPH_PROTEINS_OPS)},
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("| dataset | metric | rows | best validation | its test | best test | load (s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for dataset, t in tables.items():
        print(
            f"| {dataset} | {t['metric']} | {t['rows']:,} | {t['best_validation']:.4f} | "
            f"{t['test_of_best_validation']:.4f} | {t['best_test']:.4f} | {t['load_seconds']:.2f} |"
        )
    print(json.dumps(report["folding"], indent=2), json.dumps(build))


if __name__ == "__main__":
    main()
