from __future__ import annotations

import shutil

import numpy as np
import pytest

from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.nb101 import NB101Benchmark, read_shared_data
from rlnas.benchmarks.nb101_table import NB101Table
from rlnas.errors import BudgetExhaustedError, DataError, InvalidCellError, RlnasError
from tests.conftest import make_cell
from tests.test_cells import relabel


def test_nb101_matches_the_published_checks(nb101):
    table = nb101.table
    acc = nb101.all_scores()
    assert len(table) == 423_624 and nb101.metric == "test_accuracy"
    assert table.hashes[0].decode() == "00005c142e6f48ac74fdcf73e3439874"
    assert float(acc[0]) == 0.9211738705635071
    assert nb101.best_possible == 0.9466145634651184
    assert table.hashes[int(np.argmax(acc))].decode() == "ba0a27cafe7d648aa57f7d5dd64c0b48"
    assert np.bincount(table.num_vertices)[2:].tolist() == [1, 6, 84, 2441, 62010, 359082]
    assert round(float(acc.mean()), 4) == 0.8968 and round(float(np.median(acc)), 4) == 0.9065
    assert int((acc >= 0.94).sum()) == 346


def test_best_cell_is_the_published_one(nb101):
    best = nb101.best_cell()
    result = nb101.evaluate(best)
    assert result.hash == "ba0a27cafe7d648aa57f7d5dd64c0b48" and result.score == nb101.best_possible
    assert best.num_vertices == 7 and list(best.ops[1:-1]).count(0) == 4


def test_session_counts_unique_queries_and_revisits_are_free(nb201):
    rng = np.random.default_rng(0)
    session = nb201.session(budget=3)
    a = nb201.space.sample(rng)
    first = session.query(a)
    assert session.query(a) is first
    assert session.query(relabel_nb201(a)) is first  # an isomorphic form is the same architecture
    assert (session.unique_queries, session.total_queries) == (1, 3)
    session.query(nb201.space.mutate(a, rng))
    session.query(nb201.space.mutate(a, rng))
    assert session.exhausted and session.best.score == max(e.score for e in session.history)
    with pytest.raises(BudgetExhaustedError, match="budget of 3"):
        session.query(nb201.space.sample(np.random.default_rng(99)))
    assert session.query(a) is first  # still free after the budget is spent


def relabel_nb201(cell):
    return relabel(cell, np.random.default_rng(5))


def test_nb101_session_treats_isomorphic_cells_as_one(nb101):
    cell = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 2])
    swapped = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [2, 0])
    session = nb101.session()
    assert session.query(cell).hash == session.query(swapped).hash
    assert session.unique_queries == 1


def test_nb101_rejects_cells_outside_the_space(nb101):
    too_many_edges = np.triu(np.ones((7, 7), dtype=int), k=1)
    with pytest.raises(InvalidCellError, match="edges after pruning; nb101 allows at most 9"):
        nb101.space.cell_from_names(too_many_edges.tolist(), ["input", *["conv3x3-bn-relu"] * 5, "output"])
    with pytest.raises(InvalidCellError, match="unknown op 'conv5x5'"):
        nb101.space.cell_from_names([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"])
    with pytest.raises(InvalidCellError, match="cannot be reached"):
        nb101.evaluate(make_cell([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [0]))


def test_nb201_scores_are_fractions_and_repeats_are_an_option(nb201):
    assert nb201.metric == "validation_accuracy" and 0.9 < nb201.best_possible < 0.95
    cell = nb201.space.sample(np.random.default_rng(0))
    mean = nb201.evaluate(cell).score
    random_repeat = load_benchmark("nb201-cifar10", repeat="random")
    draws = {random_repeat.evaluate(cell, np.random.default_rng(s)).score for s in range(20)}
    assert len(draws) > 1 and min(draws) <= mean <= max(draws)
    assert (
        random_repeat.evaluate(cell, np.random.default_rng(3)).score
        == random_repeat.evaluate(cell, np.random.default_rng(3)).score
    )


def test_nb201_all_three_datasets_load():
    for name in ("nb201-cifar100", "nb201-imagenet"):
        bench = load_benchmark(name)
        assert len(bench.all_scores()) == 15_625 and 0 < bench.best_possible < 1


def test_unknown_benchmark_and_dataset_are_one_line_errors():
    with pytest.raises(RlnasError, match="unknown benchmark 'nb999'"):
        load_benchmark("nb999")
    with pytest.raises(RlnasError, match="unknown benchmark 'nb201-mnist'; choose one of nb201-cifar10, "):
        load_benchmark("nb201-mnist")


def test_missing_data_path_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("RLNAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RLNAS_DATA", raising=False)
    with pytest.raises(DataError, match="set RLNAS_DATA"):
        NB101Benchmark.load()
    with pytest.raises(DataError, match="does not exist"):
        NB101Benchmark.load(tmp_path / "nowhere")


def test_truncated_data_file_is_a_clear_error(data_path, tmp_path):
    copy = tmp_path / "data"
    (copy / "nb101").mkdir(parents=True)
    shutil.copy(data_path / "nb101" / "seed0_test_accuracy.npy", copy / "nb101")
    raw = (data_path / "nb101" / "cells_by_hash.npz").read_bytes()
    (copy / "nb101" / "cells_by_hash.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_shared_data(copy)


def test_cache_round_trip_and_corrupt_cache(tmp_path, nb101):
    small = NB101Table(
        nb101.table.hashes[:5],
        nb101.table.adj[:5],
        nb101.table.ops[:5],
        nb101.table.num_vertices[:5],
        {"test_accuracy": nb101.table.metrics["test_accuracy"][:5]},
    )
    path = tmp_path / "t.npz"
    small.save(path)
    loaded = NB101Table.load(path)
    assert np.array_equal(loaded.adj, small.adj) and loaded.metrics.keys() == small.metrics.keys()
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="delete it and run `rlnas data`"):
        NB101Table.load(path)


def test_the_nb101_cache_serves_only_the_data_it_was_built_from(data_path, tmp_path, monkeypatch):
    from rlnas.benchmarks.nb101 import SHARED_CACHE, prepare

    monkeypatch.setenv("RLNAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RLNAS_DATA", raising=False)
    other = tmp_path / "other"
    (other / "nb101").mkdir(parents=True)
    shutil.copy(data_path / "nb101" / "cells_by_hash.npz", other / "nb101")
    accuracy = np.load(data_path / "nb101" / "seed0_test_accuracy.npy")
    np.save(other / "nb101" / "seed0_test_accuracy.npy", np.full_like(accuracy, 0.5))
    real, halves = NB101Benchmark.load(data_path), NB101Benchmark.load(other)  # each builds the cache anew
    assert real.best_possible == pytest.approx(float(accuracy.max())) and halves.best_possible == 0.5
    assert NB101Benchmark.load().best_possible == 0.5  # no data named: the cache serves as it is
    cache = tmp_path / "cache" / SHARED_CACHE
    built = cache.stat().st_mtime_ns
    prepare(other)
    assert cache.stat().st_mtime_ns == built  # the same data: not rebuilt
    np.save(other / "nb101" / "seed0_test_accuracy.npy", np.full_like(accuracy, 0.25))
    assert NB101Benchmark.load(other).best_possible == 0.25  # changed files: rebuilt
    with pytest.raises(DataError, match="does not exist"):
        NB101Benchmark.load(tmp_path / "nowhere")  # a folder named is checked even where a cache serves
