"""The per-budget table: a budget-aware strategy run once per budget, the others read off one run."""

from __future__ import annotations

import csv

import numpy as np

from rlnas.agents.general_policy import random_policy
from rlnas.env.search_episode import EpisodeConfig
from rlnas.experiments.budget_table import run_budget_table, table_markdown, welch_interval
from rlnas.experiments.compare import CompareConfig
from rlnas.experiments.plots import plot_regret_by_budget


def test_budget_aware_strategies_run_once_per_budget(tmp_path, nb201):
    policy = tmp_path / "policy.pt"
    random_policy(EpisodeConfig(), seed=3).save(policy)
    learned = f"learned:{policy}"
    config = CompareConfig("nb201-cifar10", (learned, "rs", "re"), 12, 3, 5)
    table = run_budget_table(config, [6, 12], tmp_path / "table")
    for b in (6, 12):  # one comparison per budget, each run exactly that long
        with open(next((tmp_path / "table").glob(f"learned*-budget-{b}")) / "results.csv") as f:
            queries = [int(row["query"]) for row in csv.DictReader(f)]
        assert max(queries) == b and queries.count(b) == 3
    assert not (tmp_path / "table" / "budget-unaware" / "runs" / "learned").exists()
    rs = table["strategies"]["rs"]["budgets"]
    assert rs["6"]["mean_regret"] >= rs["12"]["mean_regret"] >= 0  # read off the same 12-query runs
    assert table["strategies"]["rs"]["budgets"]["12"]["distinct_cells"] <= 36
    assert set(table["differences"]["to"]) == {"rs", "re"}
    assert table["strategies"][learned]["in_distribution"] is False
    text = table_markdown(table)
    assert "| learned" in text and "@12" in text
    panels = {"nb201-cifar10": {name: entry["budgets"] for name, entry in table["strategies"].items()}}
    plot_regret_by_budget(panels, tmp_path / "by-budget.png")  # the figure of docs/figures/guided-unseen.png
    assert (tmp_path / "by-budget.png").stat().st_size > 10_000


def test_welch_interval_matches_a_known_case():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.5, 3.0])
    diff, half = welch_interval(a, b)
    assert abs(diff) < 1e-12
    # squared standard errors 1.667/4 and 0.25/3 (sum 0.5); Welch dof 4.08; t(0.975, 4.08) = 2.75
    assert 1.93 < half < 1.96
