"""Speed of the arena's hot paths, as ratios against baselines measured in the same process.

    RLNAS_DATA=../shared/data python scripts/arena_speed.py [--full-hash] [--compare-runs 100]

Reports NB101 queries per second (new and cached cells), the time to build a cell's full
neighbourhood, both against one official MD5 module hash (the cost a query would have if it
hashed the official way), the full 423,624-hash reproduction (with --full-hash), and the wall
time of `rlnas compare` with rs,rw,ls,re x runs x 300 queries, serial against two workers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rlnas.benchmarks.nb101 import NB101Benchmark, table_cells
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.spaces import NB101_SPACE


def per_second(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} /s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--full-hash", action="store_true", help="also time all 423,624 official hashes")
    parser.add_argument("--compare-runs", type=int, default=100, help="0 skips the compare timing")
    args = parser.parse_args()

    t0 = time.perf_counter()
    bench = NB101Benchmark.load()
    print(f"NB101 load from cache: {time.perf_counter() - t0:.2f} s")

    rng = np.random.default_rng(0)
    cells = [NB101_SPACE.sample(rng) for _ in range(args.cells)]

    t0 = time.perf_counter()
    for cell in cells[:2000]:
        cell.module_hash()
    md5_seconds = (time.perf_counter() - t0) / 2000

    session = bench.session()
    t0 = time.perf_counter()
    for cell in cells:
        session.query(cell)
    new_seconds = (time.perf_counter() - t0) / len(cells)
    t0 = time.perf_counter()
    for cell in cells:
        session.query(cell)
    cached_seconds = (time.perf_counter() - t0) / len(cells)

    centres = cells[:2000]
    t0 = time.perf_counter()
    sizes = [len(NB101_SPACE.neighbours(cell)) for cell in centres]
    neighbourhood_seconds = (time.perf_counter() - t0) / len(centres)

    print(f"official MD5 module hash (baseline):  {md5_seconds * 1e6:8.1f} us  {per_second(1, md5_seconds)}")
    print(
        f"query, new cell:                      {new_seconds * 1e6:8.1f} us  {per_second(1, new_seconds)}"
        f"  = {md5_seconds / new_seconds:.1f}x the MD5 hash rate"
    )
    print(
        f"query, cached cell:                   {cached_seconds * 1e6:8.2f} us  {per_second(1, cached_seconds)}"
        f"  = {md5_seconds / cached_seconds:.0f}x"
    )
    print(
        f"full neighbourhood (mean {np.mean(sizes):.1f} cells): {neighbourhood_seconds * 1e3:8.3f} ms"
        f"  = {neighbourhood_seconds / md5_seconds:.1f} MD5 hashes"
    )

    if args.full_hash:
        every = table_cells(bench.table)
        t0 = time.perf_counter()
        mismatches = sum(c.module_hash() != h.decode() for c, h in zip(every, bench.table.hashes, strict=True))
        print(
            f"all {len(every):,} official hashes reproduced in {time.perf_counter() - t0:.1f} s, "
            f"{mismatches} mismatches"
        )

    if args.compare_runs:
        timings = {}
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                config = CompareConfig("nb101", ("rs", "rw", "ls", "re"), 300, args.compare_runs, 0)
                t0 = time.perf_counter()
                run_comparison(config, Path(out), workers=workers)
                timings[workers] = time.perf_counter() - t0
            print(
                f"compare rs,rw,ls,re x {args.compare_runs} runs x 300 on NB101, {workers} worker(s): "
                f"{timings[workers]:.1f} s"
            )
        print(f"two workers against one: {timings[1] / timings[2]:.2f}x faster")


if __name__ == "__main__":
    main()
