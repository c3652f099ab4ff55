"""Shared fixtures. Tests that need the real data fail (never skip) when RLNAS_DATA is missing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rlnas.cells import INPUT, OUTPUT, Cell


@pytest.fixture(scope="session")
def data_path() -> Path:
    raw = os.environ.get("RLNAS_DATA")
    if not raw or not (Path(raw) / "nb101" / "cells_by_hash.npz").is_file():
        pytest.fail(
            f"RLNAS_DATA={raw!r} does not hold nb101/: set RLNAS_DATA to the shared data folder (../shared/data)"
        )
    return Path(raw)


@pytest.fixture(scope="session")
def nb101(data_path, tmp_path_factory):
    from rlnas.benchmarks.nb101 import NB101Benchmark

    return NB101Benchmark.load(data_path)


@pytest.fixture(scope="session")
def nb201():
    from rlnas.benchmarks.nb201 import NB201Benchmark

    return NB201Benchmark("cifar10")


def make_cell(matrix: list[list[int]], ops: list[int]) -> Cell:
    """A cell from a matrix and interior op labels (input and output are added)."""
    return Cell.from_matrix(np.array(matrix), [INPUT, *ops, OUTPUT])


@pytest.fixture
def torch_one_thread():
    """The machine is shared: one intra-op thread for torch, the caller's setting restored."""
    from rlnas.devices import torch_threads

    with torch_threads(1):
        yield
