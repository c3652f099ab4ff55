"""Strategy settings given as `--set NAME.FIELD=VALUE`: typed, checked in one line, recorded, and used."""

from __future__ import annotations

import json

import pytest

from rlnas.config_options import parse_field, scalar_fields
from rlnas.errors import RlnasError
from rlnas.experiments.compare import CompareConfig, run_comparison
from rlnas.strategies import SETTINGS, STRATEGIES, make_strategy, parse_settings, settings_of
from rlnas.strategies.acquisition import GuidanceConfig
from rlnas.strategies.tpe import TPEConfig
from tests.test_cli import assert_one_line_error, rlnas


def test_values_are_read_as_the_fields_types():
    settings = parse_settings(
        ["re.population_size=7", "tpe.multivariate=false", "tpe.constant_liar=none", "bananas.acquisition=ucb"],
        ["re", "tpe", "bananas"],
    )
    assert settings == (  # constant_liar=none is the default: it changes nothing, and is not recorded
        ("re", "population_size", 7),
        ("tpe", "multivariate", False),
        ("bananas", "acquisition", "ucb"),
    )
    assert parse_settings(["re.tournament_size=10"], ["re"]) == ()
    assert parse_field(GuidanceConfig, "ucb_beta", "2.5") == 2.5
    with pytest.raises(ValueError, match=r"n_startup_trials takes an integer, not '1\.5'"):
        parse_field(TPEConfig, "n_startup_trials", "1.5")
    with pytest.raises(ValueError, match="true or false or none"):
        parse_field(TPEConfig, "multivariate", "maybe")


def test_a_nested_setting_is_not_offered():
    assert "predictor_settings" not in scalar_fields(GuidanceConfig)
    assert set(scalar_fields(SETTINGS["re"][0])) == {"population_size", "tournament_size"}


@pytest.mark.parametrize(
    "assignments, words",
    [
        (["re.population_size"], "is not NAME.FIELD=VALUE"),
        (["population_size=5"], "is not NAME.FIELD=VALUE"),
        (["tpe.n_startup_trials=5"], "tpe is not among the strategies (re, rs, bananas:gin)"),
        (["rs.num_init=5"], "rs has no settings"),
        (["re.population=5"], "its settings: population_size (30), tournament_size (10)"),
        (["re.population_size=many"], "population_size takes an integer"),
        (["re.population_size=5", "re.population_size=6"], "given twice"),
        (["bananas.predictor=path"], "the strategy's spec gives its predictor (e.g. bananas:gin)"),
        (["bananas:gin.top_k=3"], "name the strategy before its colon, as bananas.top_k"),
        (["bananas.ucb_beta=nan"], "ucb_beta must be a finite number"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(assignments, words):
    with pytest.raises(RlnasError) as error:
        make_strategy(
            "bananas:gin", settings_of("bananas:gin", parse_settings(assignments, ["re", "rs", "bananas:gin"]))
        )
    assert words in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "spec, field, value, holder",
    [
        ("ls", "num_init", 3, None),
        ("re", "population_size", 7, None),
        ("reinforce", "batch_size", 4, "config"),
        ("tpe", "n_startup_trials", 3, "config"),
        ("bananas", "top_k", 5, "config"),
        ("learned:taught-climb:guided", "temperature", 0.1, "guide_config"),
        ("agent+predictor:taught-climb", "num_candidates", 3, "config"),
    ],
)
def test_a_setting_reaches_the_strategy(spec, field, value, holder):
    strategy = make_strategy(spec, {field: value})
    assert getattr(getattr(strategy, holder) if holder else strategy, field) == value


def test_every_strategy_with_settings_is_a_strategy_and_takes_its_defaults():
    for name, (cls, _) in SETTINGS.items():
        assert name in STRATEGIES and scalar_fields(cls)
    assert make_strategy("re", scalar_fields(SETTINGS["re"][0])).population_size == 30


@pytest.mark.parametrize(
    "spec, settings, words",
    [
        ("re", {"population_size": 0}, "population_size must be at least 1"),
        ("ls", {"num_init": 0}, "num_init must be at least 1"),
        ("learned:taught-climb", {"temperature": 0.1}, "add :guided"),
        ("rs", {"population_size": 5}, "the strategy rs has no settings"),
        ("reinforce", {"learning_rate": -1.0}, r"learning_rate must be in \(0, 1\]"),
        ("reinforce", {"init_range": 1e300}, r"init_range must be in \(0, 1\]"),
        ("reinforce", {"stale_patience": -1}, "cannot be negative"),
    ],
)
def test_settings_out_of_range_are_refused(spec, settings, words):
    with pytest.raises(RlnasError, match=words):
        make_strategy(spec, settings)


def test_a_comparison_uses_records_and_resumes_only_its_settings(tmp_path):
    plain = CompareConfig("nb201-cifar10", ("re",), budget=40, runs=2, seed=0)
    small = CompareConfig("nb201-cifar10", ("re",), budget=40, runs=2, seed=0, settings=(("re", "population_size", 5),))
    summary = run_comparison(small, tmp_path / "small")
    assert summary["strategies"]["re"]["settings"] == {"population_size": 5}
    default = run_comparison(plain, tmp_path / "plain")
    assert "settings" not in default["strategies"]["re"]
    assert "settings" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    assert summary["strategies"]["re"]["budgets"] != default["strategies"]["re"]["budgets"]
    with pytest.raises(RlnasError, match=r"the settings of re \(population_size=5 before, defaults now\)"):
        run_comparison(plain, tmp_path / "small")
    assert run_comparison(small, tmp_path / "small") == summary


def test_a_setting_for_a_strategy_not_compared_is_refused_before_any_file(tmp_path):
    config = CompareConfig("nb201-cifar10", ("rs",), budget=5, runs=1, seed=0, settings=(("re", "population_size", 5),))
    with pytest.raises(RlnasError, match="re is not among the strategies"):
        run_comparison(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_command_line_takes_settings_and_prints_them(tmp_path):
    result = rlnas(
        "search", "--strategy", "re", "--budget", "15", "--set", "re.population_size=4", "--out", str(tmp_path / "s")
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["settings"] == {"population_size": 4}
    again = rlnas("search", "--strategy", "re", "--budget", "15", "--out", str(tmp_path / "s"))
    assert_one_line_error(again, "these differ: settings")
    wrong = rlnas("compare", "--strategies", "re", "--set", "re.tournament=3", "--out", str(tmp_path / "c"))
    assert_one_line_error(wrong, "re has no setting tournament")
    assert not (tmp_path / "c").exists()


def test_info_lists_each_strategys_settings_with_their_defaults():
    listed = rlnas("info").stdout
    assert "settings: population_size (30), tournament_size (10)" in listed
    assert "fresh_uniform (0.333333)" in listed and "module:Class" in listed
