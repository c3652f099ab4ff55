"""A user's own strategy named on the command line as `module:Class`, compared as a built-in one is."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from rlnas.errors import RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.strategies import make_strategy
from tests.test_cli import assert_one_line_error, rlnas

USER_MODULE = textwrap.dedent('''
    from rlnas.strategies.base import Strategy


    class BestNeighbour(Strategy):
        """Samples, then a random neighbour of the best cell so far."""

        name = "best-neighbour"

        def start(self, space, rng):
            super().start(space, rng)
            self.best = None

        def ask(self):
            if self.best is None or self.rng.random() < 0.2:
                return self.space.sample(self.rng)
            return self.space.mutate(self.best.cell, self.rng)

        def tell(self, cell, result, new):
            if self.best is None or result.score > self.best.score:
                self.best = result


    class NoTell(Strategy):
        name = "no-tell"

        def ask(self):
            return None


    class Nameless(BestNeighbour):
        name = None


    class NeedsArgs(BestNeighbour):
        def __init__(self, width):
            pass


    class NoneForever(BestNeighbour):
        name = "none-forever"

        def ask(self):
            return None


    class AsksText(BestNeighbour):
        def ask(self):
            return "a cell"


    class FailsWhenMade(BestNeighbour):
        def __init__(self):
            raise ValueError("no GPU here")
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_strategies.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_strategies", raising=False)  # this test's file, not an earlier test's
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # for the worker processes and the command line
    return tmp_path


def test_a_users_strategy_runs_in_a_comparison_beside_the_built_in_ones(user_module):
    config = CompareConfig("nb201-cifar10", ("my_strategies:BestNeighbour", "rs"), budget=30, runs=4, seed=0)
    in_process = run_comparison(config, user_module / "one", workers=1)
    parallel = run_comparison(config, user_module / "two", workers=2)
    assert in_process == parallel  # seeded from the run's generator, as every strategy
    mine = in_process["strategies"]["my_strategies:BestNeighbour"]["budgets"]
    assert mine["30"]["mean_best"] > in_process["strategies"]["rs"]["budgets"]["10"]["mean_best"]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("my_strategies:Missing", "has no 'Missing'"),
        ("my_strategies:NoTell", "does not implement tell"),
        ("my_strategies:Nameless", "has no name"),
        ("my_strategies:NeedsArgs", "must be constructible with no arguments"),
        ("my_strategies:FailsWhenMade", "failed when made: ValueError: no GPU here"),
        ("numpy:ndarray", "is not a subclass of rlnas.strategies.base.Strategy"),
        ("not_a_module_here:X", "no module 'not_a_module_here' to import"),
        ("bogus", "or module:Class"),
    ],
)
def test_a_wrong_user_strategy_is_one_line(spec, words, user_module):
    with pytest.raises(RlnasError, match=words):
        make_strategy(spec)


def test_the_command_line_compares_a_users_strategy(user_module):
    out = user_module / "cli"
    result = rlnas(
        "compare", "--strategies", "my_strategies:BestNeighbour,re", "--budget", "20", "--runs", "2", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "my_strategies:BestNeighbour" in json.loads((out / "summary.json").read_text())["strategies"]
    wrong = rlnas("compare", "--strategies", "my_strategies:NoTell", "--out", str(user_module / "wrong"))
    assert_one_line_error(wrong, "does not implement tell")
    assert not (user_module / "wrong").exists()


@pytest.mark.parametrize(
    "spec, words",
    [
        ("my_strategies:NoneForever", "the strategy none-forever proposed no architecture"),
        ("my_strategies:AsksText", "ask() returned a str, not a cell or None"),
    ],
)
def test_a_user_strategy_that_proposes_nothing_usable_is_one_line(spec, words, user_module):
    for command in (
        ["compare", "--strategies", spec, "--runs", "1", "--budget", "5", "--out", str(user_module / "c")],
        ["search", "--strategy", spec, "--budget", "5"],
    ):
        assert_one_line_error(rlnas(*command), words)


def test_a_comparison_is_not_extended_with_an_edited_strategy(user_module):
    config = CompareConfig("nb201-cifar10", ("my_strategies:BestNeighbour",), budget=10, runs=1, seed=0)
    run_comparison(config, user_module / "out")
    module = user_module / "my_strategies.py"
    module.write_text(module.read_text().replace("< 0.2", "< 0.5"))
    with pytest.raises(RlnasError, match="the identity of my_strategies:BestNeighbour"):
        run_comparison(CompareConfig("nb201-cifar10", ("my_strategies:BestNeighbour",), 10, 2, 0), user_module / "out")
