"""Performance estimators behind one interface: a cell in, its metrics out, queries counted."""

from __future__ import annotations

from pathlib import Path

from rlnas.benchmarks.base import Benchmark, Evaluation, QuerySession
from rlnas.errors import RlnasError

BENCHMARKS = ("nb101", "nb201-cifar10", "nb201-cifar100", "nb201-imagenet")


def load_benchmark(name: str, data: str | Path | None = None, repeat: str = "mean") -> Benchmark:
    """Load a benchmark by name; `data` (or RLNAS_DATA) is needed for nb101 only."""
    if name == "nb101":
        from rlnas.benchmarks.nb101 import NB101Benchmark

        return NB101Benchmark.load(data, repeat)
    if name.startswith("nb201-"):
        from rlnas.benchmarks.nb201 import NB201Benchmark

        return NB201Benchmark(name.removeprefix("nb201-"), repeat)
    raise RlnasError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")


__all__ = ["BENCHMARKS", "Benchmark", "Evaluation", "QuerySession", "load_benchmark"]
