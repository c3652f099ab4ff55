"""The tpe strategy (Optuna's TPE through its ask/tell) and the spaces' categorical choices it searches."""

from __future__ import annotations

import inspect
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from rlnas.benchmarks import load_benchmark
from rlnas.cells import Cell
from rlnas.errors import ConfigError, InvalidCellError, RlnasError
from rlnas.spaces import DARTS_SPACE, NB101_SPACE, NB201_SPACE, NBGRAPH_SPACE, DAGSpace
from rlnas.spaces.nb201 import NB201_EDGES, NB201_OPS, nb201_string_to_cell
from rlnas.spaces.nbgraph import cell_to_arch
from rlnas.strategies import STRATEGIES, make_strategy
from rlnas.strategies.runner import Search, run_search
from rlnas.strategies.tpe import TPE, TPEConfig
from tests.conftest import make_cell


def random_choices(space, rng: np.random.Generator) -> dict:
    return {name: options[int(rng.integers(len(options)))] for name, options in space.choices()}


# ---------------------------------------------------------------- the spaces' choices
def test_nb201_choices_are_the_edge_ops_in_nb201_order():
    assert [name for name, _ in NB201_SPACE.choices()] == [f"edge_{s}_{d}" for s, d in NB201_EDGES]
    chosen = {f"edge_{s}_{d}": NB201_OPS[k % 5] for k, (s, d) in enumerate(NB201_EDGES)}
    assert NB201_SPACE.from_choices(chosen) == nb201_string_to_cell("012340")


def test_nb101_choices_are_the_matrix_bits_and_ops():
    choices = dict(NB101_SPACE.choices())
    assert len(choices) == 21 + 5 and choices["edge_0_6"] == (0, 1) and choices["op_5"] == NB101_SPACE.op_names
    # input -> 1 -> output, with vertices 2..5 dangling: pruned to a 3-vertex cell
    chosen = {name: 0 for name in choices} | {f"op_{v}": "maxpool3x3" for v in range(1, 6)}
    chosen |= {"edge_0_1": 1, "edge_1_6": 1, "edge_0_2": 1, "op_1": "conv1x1-bn-relu"}
    assert NB101_SPACE.from_choices(chosen) == make_cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [1])
    with pytest.raises(InvalidCellError, match="output cannot be reached"):
        NB101_SPACE.from_choices(chosen | {"edge_1_6": 0})
    dense = chosen | {name: 1 for name in choices if name.startswith("edge_")}
    with pytest.raises(InvalidCellError, match="21 edges after pruning"):
        NB101_SPACE.from_choices(dense)


def test_nbgraph_choices_are_the_package_links_and_ops():
    rng = np.random.default_rng(3)
    for _ in range(50):
        cell = NBGRAPH_SPACE.sample(rng)
        link, ops = cell_to_arch(cell, len(NBGRAPH_SPACE.op_names))
        chosen = {f"input_{i}": link[i - 1] for i in range(1, 5)}
        chosen |= {f"op_{i}": NBGRAPH_SPACE.op_names[ops[i - 1]] for i in range(1, 5)}
        assert NBGRAPH_SPACE.from_choices(chosen) == cell
    all_skip = {name: options[0] if name.startswith("input") else "skip" for name, options in NBGRAPH_SPACE.choices()}
    with pytest.raises(InvalidCellError, match="every node is skip"):
        NBGRAPH_SPACE.from_choices(all_skip)


def test_darts_choices_give_every_genotype_and_only_distinct_sources():
    rng = np.random.default_rng(4)
    choices = dict(DARTS_SPACE.choices())
    assert choices["reduce_node4_inputs"] == ("0_1", "0_2", "0_3", "1_2", "1_3", "2_3")
    for _ in range(50):
        arch = DARTS_SPACE.sample_genotype(rng)
        chosen = {}
        for cell_type, pairs in zip(("normal", "reduce"), DARTS_SPACE.pairs(arch), strict=True):
            for k, node in enumerate(range(2, 6)):
                (a, op0), (b, op1) = pairs[2 * k : 2 * k + 2]
                chosen[f"{cell_type}_node{node}_inputs"] = f"{a}_{b}"
                chosen[f"{cell_type}_node{node}_op0"] = DARTS_SPACE.op_names[op0]
                chosen[f"{cell_type}_node{node}_op1"] = DARTS_SPACE.op_names[op1]
        assert DARTS_SPACE.from_choices(chosen) == arch
        DARTS_SPACE.validate(DARTS_SPACE.from_choices(random_choices(DARTS_SPACE, rng)))


@pytest.mark.parametrize("space", [NB201_SPACE, NB101_SPACE, NBGRAPH_SPACE, DARTS_SPACE], ids=lambda s: s.name)
def test_a_missing_or_unknown_choice_is_one_line(space):
    name = space.choices()[-1][0]
    chosen = random_choices(space, np.random.default_rng(0))
    with pytest.raises(InvalidCellError, match=f"no option for the choice '{name}'"):
        space.from_choices({k: v for k, v in chosen.items() if k != name})
    with pytest.raises(InvalidCellError, match=f"{name}='conv9x9' is not an option"):
        space.from_choices(chosen | {name: "conv9x9"})


# ---------------------------------------------------------------- the strategy
def test_registered_and_settings_default_to_optunas():
    assert isinstance(make_strategy("tpe"), TPE) and STRATEGIES["tpe"] is TPE
    defaults = inspect.signature(optuna.samplers.TPESampler).parameters
    arguments = TPEConfig().sampler_arguments()
    assert arguments == {"n_startup_trials": 10, "n_ei_candidates": 24}
    assert all(defaults[name].default == value for name, value in arguments.items())
    assert TPEConfig(multivariate=False).sampler_arguments()["multivariate"] is False
    with pytest.raises(ConfigError, match="n_ei_candidates must be at least 1"):
        TPEConfig(n_ei_candidates=0)


def test_importing_the_strategies_does_not_import_optuna():
    code = "import sys, rlnas.strategies; print('optuna' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_without_optuna_the_strategy_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # what an environment without the extra sees
    with pytest.raises(RlnasError, match=r"the tpe strategy needs Optuna: pip install 'rlnas\[tpe\]'"):
        make_strategy("tpe")


def test_deterministic_for_a_seed(nb201):
    def hashes(seed: int) -> list[str]:
        return [e.hash for e in TPE().run(nb201, 40, np.random.default_rng(seed))]

    assert hashes(7) == hashes(7)
    assert hashes(7) != hashes(8)


def test_every_proposal_is_a_trial_told_its_score_revisits_included(nb201):
    strategy = TPE()
    result = run_search(strategy, nb201, 150, np.random.default_rng(1))
    overhead = strategy.overhead()
    trials = strategy.study.get_trials(deepcopy=False)
    assert len(result.history) == 150 and overhead["invalid"] == 0
    assert overhead["asks"] == result.total_queries == len(trials)
    assert overhead["revisits"] == result.total_queries - 150 > 0  # TPE does propose known cells on NB201
    scores = {e.cell.key: e.score for e in result.history}
    for trial in trials:
        assert trial.state == TrialState.COMPLETE
        assert trial.value == scores[NB201_SPACE.from_choices(trial.params).key]
    assert overhead["seconds_in_ask"] > 0 and overhead["cpu_seconds_in_ask"] > 0 and overhead["seconds_in_tell"] > 0


def test_draws_outside_a_dag_space_are_failed_trials_and_cost_no_budget(nb101):
    strategy = TPE()
    result = run_search(strategy, nb101, 40, np.random.default_rng(2))
    failed = strategy.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    complete = strategy.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(result.history) == 40 and len({e.hash for e in result.history}) == 40
    assert strategy.overhead()["invalid"] == len(failed) > 0
    assert len(complete) == result.total_queries == strategy.overhead()["asks"]
    for trial in failed:
        with pytest.raises(InvalidCellError):
            NB101_SPACE.from_choices(trial.params)


def test_results_told_in_another_order_than_the_asks_reach_their_trials():
    space = DAGSpace("toy", ("a", "b"), max_vertices=5, max_edges=6)
    strategy = TPE()
    search = Search(space, strategy, budget=30, rng=np.random.default_rng(5))

    def score(cell: Cell) -> float:
        return float(cell.num_edges + sum(op == 1 for op in cell.ops))

    while batch := [cell for cell in (search.ask() for _ in range(3)) if cell is not None]:
        for cell in reversed(batch):
            search.tell(cell, score(cell))
    assert len(search.history) == 30
    for trial in strategy.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        assert trial.value == score(space.from_choices(trial.params))


@dataclass(frozen=True)
class _NothingValid:
    """A space whose only combination is outside it."""

    name: str = "nothing-valid"

    def choices(self):
        return [("x", (0, 1))]

    def from_choices(self, chosen):
        raise InvalidCellError("never valid")


def test_a_space_without_valid_draws_or_without_choices_is_one_line():
    strategy = TPE(TPEConfig(max_invalid_streak=25))
    strategy.start(_NothingValid(), np.random.default_rng(0))
    with pytest.raises(RlnasError, match="tpe drew 25 architectures in a row outside nothing-valid"):
        strategy.ask()
    assert strategy.overhead()["invalid"] == 25
    with pytest.raises(RlnasError, match="tpe needs a space of categorical choices; plain has no choices"):
        TPE().start(type("Plain", (), {"name": "plain"})(), np.random.default_rng(0))


def test_nbgraph_and_darts_runs():
    for name in ("nbgraph-cora", "nb301-distilled"):
        benchmark = load_benchmark(name)
        result = run_search(TPE(), benchmark, 15, np.random.default_rng(0))
        assert len({benchmark.identity(e.cell) for e in result.history}) == 15


def test_optuna_logging_is_quiet_and_left_as_it_was(nb201, capfd):
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        TPE().run(nb201, 12, np.random.default_rng(0))
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
    finally:
        optuna.logging.set_verbosity(optuna.logging.INFO)
    assert "Trial" not in capfd.readouterr().err
