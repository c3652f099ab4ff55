from __future__ import annotations

import csv
import json

import pytest

from rlnas.errors import RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison, summary_budgets

CONFIG = CompareConfig("nb201-cifar10", ("rs", "ls"), budget=25, runs=3, seed=5)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_comparison_writes_results_summary_and_plot(tmp_path):
    summary = run_comparison(CONFIG, tmp_path)
    rows = read_rows(tmp_path / "results.csv")
    assert len(rows) == 2 * 3 * 25
    assert list(rows[0]) == ["strategy", "run", "query", "hash", "score", "best_so_far", "cost"]
    for strategy, run in {(r["strategy"], r["run"]) for r in rows}:
        run_rows = [r for r in rows if (r["strategy"], r["run"]) == (strategy, run)]
        best = [float(r["best_so_far"]) for r in run_rows]
        assert best == sorted(best) and best[-1] == max(float(r["score"]) for r in run_rows)
    assert summary["metric"] == "validation_accuracy" and summary["benchmark"] == "nb201-cifar10"
    assert list(summary["strategies"]["rs"]["budgets"]) == ["10", "20", "25"]
    entry = summary["strategies"]["ls"]["budgets"]["25"]
    assert entry["mean_regret"] == pytest.approx(summary["best_possible"] - entry["mean_best"])
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (tmp_path / "anytime.png").stat().st_size > 10_000


def test_every_strategy_gets_the_same_per_run_seed(tmp_path):
    # regularized evolution's first 30 cells are random samples: the same as random search's
    run_comparison(CompareConfig("nb201-cifar10", ("rs", "re"), 10, 2, 0), tmp_path)
    rows = [{k: v for k, v in row.items() if k != "strategy"} for row in read_rows(tmp_path / "results.csv")]
    assert rows[:10] == rows[20:30]  # run 0 of rs and of re


def test_resume_redoes_only_missing_runs_and_gives_the_same_results(tmp_path):
    run_comparison(CONFIG, tmp_path)
    before = (tmp_path / "results.csv").read_text()
    kept = tmp_path / "runs" / "rs-0000.csv"
    stamp = kept.stat().st_mtime_ns
    (tmp_path / "runs" / "ls-0002.csv").unlink()  # as if killed during that run
    (tmp_path / "runs" / ".ls-0002.csv.tmp123").write_text("strategy,run\nls,2")  # a half-written leftover
    progress = []
    run_comparison(CONFIG, tmp_path, on_progress=lambda done, total: progress.append((done, total)))
    assert progress[0] == (5, 6) and progress[-1] == (6, 6)
    assert kept.stat().st_mtime_ns == stamp
    assert (tmp_path / "results.csv").read_text() == before
    assert not (tmp_path / "runs" / ".ls-0002.csv.tmp123").exists()  # the leftover was cleared


def test_parallel_workers_give_the_in_process_results(tmp_path):
    run_comparison(CONFIG, tmp_path / "serial", workers=1)
    run_comparison(CONFIG, tmp_path / "parallel", workers=2)
    assert (tmp_path / "serial" / "results.csv").read_text() == (tmp_path / "parallel" / "results.csv").read_text()


def test_a_folder_of_another_comparison_is_refused(tmp_path):
    run_comparison(CONFIG, tmp_path)
    with pytest.raises(RlnasError, match=r"other settings \(these differ: seed"):
        run_comparison(CompareConfig("nb201-cifar10", ("rs",), 25, 3, 6), tmp_path)


def test_summary_budgets_include_the_budget_itself():
    assert summary_budgets(300) == [10, 20, 50, 100, 150, 200, 300]
    assert summary_budgets(75) == [10, 20, 50, 75]


def test_everything_is_checked_before_any_file_is_written(tmp_path):
    for config, words in [
        (CompareConfig("nb201-cifar10", ("rs", "rs"), 10, 1, 0), "listed twice"),
        (CompareConfig("nb201-cifar10", ("rs",), 15_626, 1, 0), "more than the 15,625"),
        (CompareConfig("nb201-cifar10", ("rs",), 10, 1, -1), "--seed"),
        (CompareConfig("nb201-cifar10", ("ls:5",), 10, 1, 0), "takes no argument"),
        (CompareConfig("nb201-cifar10", ("bananas:",), 10, 1, 0), "nothing after the colon"),
        (CompareConfig("NB101", ("rs",), 10, 1, 0), "did you mean 'nb101'"),
        (CompareConfig("nb201-cifar10", ("agent:runs/p/x", "agent:runs/p_x"), 10, 1, 0), "share one results file"),
        (CompareConfig("nb201-cifar10", ("rs", "agent:nb101"), 10, 1, 0), "cannot act in the nb201 space"),
    ]:
        with pytest.raises(RlnasError, match=words):
            run_comparison(config, tmp_path / "out")
        assert not (tmp_path / "out").exists()


def test_a_benchmark_without_a_known_best_reports_scores_not_regret(tmp_path):
    summary = run_comparison(CompareConfig("nb301-distilled", ("rs",), 12, 2, 0), tmp_path)
    entry = summary["strategies"]["rs"]["budgets"]["12"]
    assert summary["best_possible"] is None and "mean_regret" not in entry and 0.9 < entry["mean_best"] < 1


def test_a_folder_that_holds_a_search_or_other_files_is_refused(tmp_path):
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "search.json").write_text("{}")
    with pytest.raises(RlnasError, match=r"holds a search \(search.json\), not a comparison"):
        run_comparison(CONFIG, tmp_path / "search")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RlnasError, match=r"holds files but no config\.json"):
        run_comparison(CONFIG, tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("name", "damage"),
    [("rs-0001.json", lambda text: text[:20]), ("ls-0000.csv", lambda text: text[:70]), ("rs-0002.csv", lambda t: "")],
)
def test_a_damaged_finished_run_is_one_line_before_anything_runs(tmp_path, name, damage):
    run_comparison(CONFIG, tmp_path)
    path = tmp_path / "runs" / name
    path.write_text(damage(path.read_text()))
    (tmp_path / "runs" / "rs-0000.csv").unlink()  # a missing run, which is not redone before the error
    with pytest.raises(RlnasError, match=f"{path.stem}.* damaged .*delete both"):
        run_comparison(CONFIG, tmp_path)
    assert not (tmp_path / "runs" / "rs-0000.csv").exists()


def test_a_single_run_has_no_interval_and_the_summary_is_strict_json(tmp_path):
    def refuse(constant: str):
        raise ValueError(f"{constant} in summary.json")

    summary = run_comparison(CompareConfig("nb201-cifar10", ("rs",), 10, 1, 0), tmp_path)
    assert summary["strategies"]["rs"]["budgets"]["10"]["ci95"] is None
    assert json.loads((tmp_path / "summary.json").read_text(), parse_constant=refuse) == summary


SCALED_TABLE = '''
import os

from rlnas.benchmarks import Benchmark
from rlnas.benchmarks.nb201 import NB201Benchmark


class ScaledNB201(Benchmark):
    """NB201-cifar10 with its scores times $TABLE_SCALE: a user's table whose scores change under one name."""

    name, metric = "scaled-nb201", "scaled_accuracy"

    def __init__(self):
        self.inner = NB201Benchmark("cifar10")
        self.space = self.inner.space
        self.scale = float(os.environ.get("TABLE_SCALE", "1"))

    def lookup(self, pruned, rng):
        result = self.inner.lookup(pruned, rng)
        return type(result)(result.cell, result.hash, result.score * self.scale, {})

    def all_scores(self):
        return self.inner.all_scores() * self.scale
'''


def test_a_comparison_resumes_only_on_the_scores_it_started_on(tmp_path, monkeypatch):
    (tmp_path / "scaled_table.py").write_text(SCALED_TABLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = CompareConfig("scaled_table:ScaledNB201", ("rs",), budget=10, runs=2, seed=0)
    first = run_comparison(config, tmp_path / "out")
    assert "scores_digest" in json.loads((tmp_path / "out" / "config.json").read_text())
    monkeypatch.setenv("TABLE_SCALE", "0.5")
    with pytest.raises(RlnasError, match="these differ: scores_digest"):
        run_comparison(config, tmp_path / "out")
    monkeypatch.setenv("TABLE_SCALE", "1")
    assert run_comparison(config, tmp_path / "out") == first
    record = json.loads((tmp_path / "out" / "config.json").read_text())
    del record["scores_digest"]  # a folder of an rlnas before the digest resumes, and is given it
    (tmp_path / "out" / "config.json").write_text(json.dumps(record))
    assert run_comparison(config, tmp_path / "out") == first
    assert "scores_digest" in json.loads((tmp_path / "out" / "config.json").read_text())


def test_more_runs_or_strategies_extend_a_comparison_in_its_folder(tmp_path):
    small = CompareConfig("nb201-cifar10", ("rs",), budget=20, runs=2, seed=3)
    run_comparison(small, tmp_path / "grown")
    made = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "grown" / "runs").iterdir()}
    large = CompareConfig("nb201-cifar10", ("rs", "ls"), budget=20, runs=3, seed=3)
    grown = run_comparison(large, tmp_path / "grown")
    assert grown == run_comparison(large, tmp_path / "fresh")  # as if it had been run whole
    assert all((tmp_path / "grown" / "runs" / name).stat().st_mtime_ns == t for name, t in made.items())
    assert run_comparison(small, tmp_path / "grown")["runs"] == 2  # a subset is summarised alone
    stored = json.loads((tmp_path / "grown" / "config.json").read_text())
    assert stored["runs"] == 3 and stored["strategies"] == ["rs", "ls"]
    for changed, words in [
        (CompareConfig("nb201-cifar10", ("rs",), budget=30, runs=2, seed=3), "these differ: budget"),
        (CompareConfig("nb201-cifar10", ("ls",), 20, 2, 3, settings=(("ls", "num_init", 3),)), "the settings of ls"),
    ]:
        with pytest.raises(RlnasError, match=words):
            run_comparison(changed, tmp_path / "grown")
