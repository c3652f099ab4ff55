"""The uniform sampler on a custom DAG space: first-sample time, and draws against the exact counts.

    python scripts/custom_space_sampler.py [--ops 5] [--vertices 9] [--edges 12] [--draws 10000] [--seed 0]

The first sample is timed in fresh processes, with an empty count cache (cold) and with the cache
that run wrote (warm). Then `--draws` cells are drawn in this process and compared with the space's
exact class counts: the (vertices, edges) histogram by total variation distance (with the distance
that sampling noise alone gives, from multinomial draws of the exact distribution), and the op
frequencies, which are uniform for a uniform draw because renaming ops maps unique cells to unique
cells. The rejection sampler (BANANAS' random matrix) is measured beside it. Writes a JSON file and a
figure (see docs/sampler.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from rlnas.spaces import DAGSpace
from rlnas.spaces.dag import canonical_form
from rlnas.spaces.strata import cache_path, stratified_sampler


def make_space(args: argparse.Namespace) -> DAGSpace:
    return DAGSpace("custom", tuple(f"op{k}" for k in range(args.ops)), args.vertices, args.edges)


def first_sample(args: argparse.Namespace) -> None:
    """Child process: print the seconds that the first `space.sample` takes, imports excluded."""
    space = make_space(args)
    start = time.perf_counter()
    space.sample(np.random.default_rng(args.seed))
    print(json.dumps({"seconds": time.perf_counter() - start}))


def time_first_sample() -> dict:
    """The first sample of a fresh process (`seconds`), and that process's whole life (`process_seconds`)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--first-sample", *sys.argv[1:]], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout) | {"process_seconds": time.perf_counter() - start}


def histogram_distance(observed: Counter, exact: dict[tuple[int, int], float]) -> float:
    total = sum(observed.values())
    return 0.5 * sum(abs(observed[k] / total - exact.get(k, 0.0)) for k in observed.keys() | exact.keys())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5)
    parser.add_argument("--vertices", type=int, default=9)
    parser.add_argument("--edges", type=int, default=12)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--rejection-draws", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/custom-space-sampler.json"))
    parser.add_argument("--figure", type=Path, default=Path("runs/custom-space-sampler.png"))
    parser.add_argument("--first-sample", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_sample:
        first_sample(args)
        return

    with tempfile.TemporaryDirectory() as cache:
        os.environ["RLNAS_CACHE"] = cache  # a fresh count cache, shared with the child processes
        cold = time_first_sample()
        cache_bytes = cache_path(args.ops, args.vertices, args.edges).stat().st_size
        warm = time_first_sample()
        measure(args, cold, warm, cache_bytes)


def measure(args: argparse.Namespace, cold: dict, warm: dict, cache_bytes: int) -> None:
    print(f"first sample: cold {cold['seconds']:.3f} s, warm {warm['seconds']:.3f} s (cache file {cache_bytes} bytes)")

    space = make_space(args)
    sampler = stratified_sampler(space)
    exact = sampler.joint_distribution()
    rng = np.random.default_rng(args.seed)
    start = time.process_time()
    cells = [space.sample(rng) for _ in range(args.draws)]
    per_draw = (time.process_time() - start) / args.draws
    strata = Counter((c.num_vertices, c.num_edges) for c in cells)
    ops = Counter(op for c in cells for op in c.ops[1:-1])
    tv = histogram_distance(strata, exact)
    keys = sorted(exact)
    noise = [
        0.5
        * np.abs(rng.multinomial(args.draws, [exact[k] for k in keys]) / args.draws - [exact[k] for k in keys]).sum()
        for _ in range(1000)
    ]
    start = time.process_time()
    forms = [canonical_form(c) for c in cells]
    per_form = (time.process_time() - start) / args.draws
    start = time.process_time()
    rejected = Counter(
        (c.num_vertices, c.num_edges) for c in (space.sample_rejection(rng) for _ in range(args.rejection_draws))
    )
    per_rejection = (time.process_time() - start) / args.rejection_draws

    total_ops = sum(ops.values())
    result = {
        "space": {"ops": args.ops, "max_vertices": args.vertices, "max_edges": args.edges},
        "unique_cells": sampler.num_cells,
        "unique_cells_per_vertex_count": {
            v: sum(c for (w, _), c in sampler.counts.items() if w == v) for v in range(2, args.vertices + 1)
        },
        "first_sample_seconds": {"cold": cold, "warm": warm},
        "cache_file_bytes": cache_bytes,
        "cpu_seconds_per_draw": per_draw,
        "cpu_seconds_per_canonical_form": per_form,
        "draws": args.draws,
        "seed": args.seed,
        "distinct_cells_drawn": len(set(forms)),
        "op_frequency": {space.op_names[o]: ops[o] / total_ops for o in range(args.ops)},
        "op_frequency_expected": 1 / args.ops,
        "strata": [
            {
                "vertices": v,
                "edges": e,
                "exact": exact[v, e],
                "drawn": strata[v, e] / args.draws,
                "rejection_drawn": rejected[v, e] / args.rejection_draws,
            }
            for v, e in keys
        ],
        "total_variation": tv,
        "total_variation_of_exact_multinomial_draws": {
            "mean": float(np.mean(noise)),
            "q99": float(np.quantile(noise, 0.99)),
        },
        "rejection_sampler": {
            "draws": args.rejection_draws,
            "total_variation": histogram_distance(rejected, exact),
            "cpu_seconds_per_draw": per_rejection,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.draws} draws, {per_draw * 1e6:.0f} us each: TV to exact counts {tv:.4f} "
        f"(noise alone: mean {np.mean(noise):.4f}, 99% {np.quantile(noise, 0.99):.4f}); "
        f"rejection sampler TV {result['rejection_sampler']['total_variation']:.4f}"
    )
    print("op frequencies:", ", ".join(f"{k} {v:.4f}" for k, v in result["op_frequency"].items()))
    plot(result, args.figure)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s for s in result["strata"] if max(s["exact"], s["rejection_drawn"]) >= 1e-4]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [4, 1]})
    x = np.arange(len(rows))
    left.bar(x, [s["exact"] for s in rows], color="#bbb", label="exact (class counts)")
    left.plot(x, [s["drawn"] for s in rows], "o", ms=3, color="C0", label=f"{result['draws']:,} draws")
    rejection = result["rejection_sampler"]
    left.plot(
        x,
        [s["rejection_drawn"] for s in rows],
        "x",
        ms=3,
        color="C3",
        label=f"rejection sampler, {rejection['draws']:,} draws (TV {rejection['total_variation']:.2f})",
    )
    left.set_yscale("log")
    left.set_xticks(x, [f"{s['vertices']},{s['edges']}" for s in rows], rotation=90, fontsize=6)
    left.set_xlabel("(vertices, edges): strata with probability >= 1e-4 under either sampler")
    left.set_ylabel("probability")
    left.set_title(f"uniform sampler: TV {result['total_variation']:.4f} to the exact counts")
    left.legend(fontsize=7)
    names = list(result["op_frequency"])
    right.bar(names, list(result["op_frequency"].values()), color="C0")
    right.axhline(result["op_frequency_expected"], color="k", lw=1, ls="--")
    right.set_title("op frequencies")
    space = result["space"]
    fig.suptitle(f"{space['max_vertices']} vertices, {space['ops']} ops, {space['max_edges']} edges")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


if __name__ == "__main__":
    main()
