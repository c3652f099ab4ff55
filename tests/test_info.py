"""`rlnas info` and the benchmark registry it lists: every name it shows is one `load_benchmark` resolves."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rlnas.benchmarks import BUILTINS, benchmark_status, check_benchmark, load_benchmark
from rlnas.errors import DataError, RlnasError
from rlnas.spaces import SPACES

INFO_WITH_MODULES = """
import sys
from rlnas.cli import main
sys.argv = ["rlnas", "info"]
main()
print("HEAVY:", sorted(m for m in ("torch", "ray", "optuna") if m in sys.modules), file=sys.stderr)
"""


def test_info_lists_benchmarks_spaces_strategies_and_policies_without_heavy_imports():
    result = subprocess.run([sys.executable, "-c", INFO_WITH_MODULES], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in (*BUILTINS, "csv:PATH", "module:Class", *SPACES, "rs", "ls", "re", "reinforce", "agent:nb101"):
        assert name in out, name
    assert "agent:nb201-cifar10" in out and "data missing" not in out
    general = ("general", "general-no-nb101", "general-no-nb201", "general-no-nb301", "nb301-distilled")
    general += ("taught-no-nb101", "taught-elites-no-nb101", "taught-elites-no-nb201", "taught-elites")
    general += ("taught-climb-no-nb101", "taught-climb-no-nb201", "taught-climb")
    for policy in general:
        assert f"learned:{policy}," in out, policy  # every general policy is listed as learned:, none as agent:
    assert "agent:nb301-distilled" not in out
    assert "pip install 'rlnas[nb301]'" in out  # printed as written: square brackets are not rich markup
    assert "HEAVY: []" in result.stderr  # no torch, ray or optuna on the path of `rlnas info`


def test_info_says_which_data_is_missing(tmp_path):
    env = {"PATH": "", "RLNAS_DATA": str(tmp_path / "nowhere"), "RLNAS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "rlnas", "info"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    nb101_line = result.stdout.split("nb101 ", 1)[1].split("nb201-cifar10")[0]
    assert "data missing" in nb101_line and "does not exist" in nb101_line
    status = {name: missing for name, _, missing in benchmark_status(tmp_path / "nowhere")}
    assert status["nbgraph-arxiv"] == "" and status["nb201-imagenet"] == ""


def test_names_are_case_sensitive_and_unknown_names_list_the_choices():
    with pytest.raises(RlnasError, match="names are case-sensitive: did you mean 'nb101'"):
        load_benchmark("NB101")
    with pytest.raises(RlnasError, match="did you mean 'nbgraph-cora'"):
        check_benchmark("NBGraph-Cora")
    with pytest.raises(RlnasError, match=r"did you mean 'csv:t\.csv'"):
        check_benchmark("CSV:t.csv", space="nb201")
    with pytest.raises(RlnasError, match="did you mean 'nb201'"):
        check_benchmark("nb201-cifar10", space="NB201")
    with pytest.raises(RlnasError) as error:
        check_benchmark("nb999")
    assert all(name in str(error.value) for name in (*BUILTINS, "csv:PATH", "module:Class"))
    with pytest.raises(RlnasError, match="--repeat must be one of mean, random, not 'median'"):
        check_benchmark("nb201-cifar10", repeat="median")
    with pytest.raises(RlnasError, match="--space is for csv:PATH tables"):
        check_benchmark("nbgraph-cora", space="nbgraph")
    for one_result in ("nbgraph-cora", "csv:t.csv"):  # a random repeat would silently be the only result
        with pytest.raises(RlnasError, match=f"--repeat random: {one_result} has one result per cell"):
            check_benchmark(one_result, repeat="random", space="nb201" if one_result.startswith("csv") else None)


def test_missing_nb101_data_is_caught_by_the_cheap_check(tmp_path, monkeypatch):
    monkeypatch.setenv("RLNAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RLNAS_DATA", raising=False)
    with pytest.raises(DataError, match="set RLNAS_DATA"):
        check_benchmark("nb101")
    (tmp_path / "data" / "nb101").mkdir(parents=True)
    with pytest.raises(DataError, match=r"cells_by_hash\.npz is missing"):
        check_benchmark("nb101", data=tmp_path / "data")


USER_MODULE = '''
from rlnas.benchmarks import Benchmark
from rlnas.benchmarks.nb201 import NB201Benchmark


class MyTable(Benchmark):
    """A user's benchmark: NB201 on CIFAR-100, scored by validation error turned into a score."""

    name = "my-table"

    def __init__(self):
        self.inner = NB201Benchmark("cifar100")
        self.space = self.inner.space
        self.metric = "minus_error"

    def lookup(self, pruned, rng):
        result = self.inner.lookup(pruned, rng)
        score = result.score - 1.0
        return type(result)(result.cell, result.hash, score, {"minus_error": score})


class NoLookup(Benchmark):
    name, metric = "x", "y"


class NeedsArgs(MyTable):
    def __init__(self, path):
        super().__init__()


class NoSpace(Benchmark):
    name, metric = "x", "y"

    def lookup(self, pruned, rng):
        raise AssertionError


class NeedsWeights(MyTable):
    def __init__(self):
        raise FileNotFoundError("weights.pt not found")


class SpaceByName(NoSpace):
    space = "nb201"
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_benchmarks.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_users_class_given_as_module_colon_class(user_module, nb201):
    check_benchmark("my_benchmarks:MyTable")
    bench = load_benchmark("my_benchmarks:MyTable")
    assert bench.name == "my-table" and bench.best_possible is None
    cell = bench.space.sample(np.random.default_rng(0))
    assert bench.evaluate(cell).score == pytest.approx(load_benchmark("nb201-cifar100").evaluate(cell).score - 1)
    with pytest.raises(RlnasError, match="has no table of every architecture's score"):
        bench.all_scores()
    for spec, words in [
        ("my_benchmarks:Nope", "has no 'Nope'"),
        ("my_benchmarks:Benchmark", "does not implement lookup"),
        ("my_benchmarks:NoLookup", "does not implement lookup"),
        ("my_benchmarks:NeedsArgs", "must be constructible with no arguments"),
        ("numpy:ndarray", "is not a subclass of rlnas.benchmarks.Benchmark"),
        ("not_a_module_here:X", "no module 'not_a_module_here' to import"),
    ]:
        with pytest.raises(RlnasError, match=words):
            load_benchmark(spec)
    with pytest.raises(RlnasError, match="does not set space"):
        load_benchmark("my_benchmarks:NoSpace")


def test_a_benchmark_offered_through_an_entry_point(user_module):
    dist = user_module / "my_benchmarks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-benchmarks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [rlnas.benchmarks]
        mytable = my_benchmarks:MyTable
        broken = my_benchmarks:Missing
        nb101 = my_benchmarks:MyTable
        """)
    )
    assert load_benchmark("mytable").name == "my-table"
    with pytest.raises(RlnasError, match="did you mean 'mytable'"):
        load_benchmark("MyTable")
    with pytest.raises(RlnasError, match=r"the entry point 'broken' .* does not load"):
        check_benchmark("broken")
    listed = {name: summary for name, summary, _ in benchmark_status()}
    assert listed["mytable"] == "entry point rlnas.benchmarks: my_benchmarks:MyTable"
    entries = [summary for name, summary, _ in benchmark_status() if summary.startswith("entry point")]
    assert (
        "entry point rlnas.benchmarks: my_benchmarks:MyTable (unused: the built-in name wins; rename the entry point)"
        in entries
    )


def test_a_users_class_that_fails_when_made_or_imported_is_one_line(user_module):
    for spec, words in [
        (
            "my_benchmarks:NeedsWeights",
            "the benchmark 'my_benchmarks:NeedsWeights' failed when made: FileNotFoundError",
        ),
        ("my_benchmarks:SpaceByName", "sets space to a str, not a SearchSpace"),
    ]:
        with pytest.raises(RlnasError, match=words):
            load_benchmark(spec)
    (user_module / "broken_module.py").write_text("def oops(:\n")
    with pytest.raises(RlnasError, match=r"cannot import 'broken_module' .*SyntaxError"):
        load_benchmark("broken_module:X")
