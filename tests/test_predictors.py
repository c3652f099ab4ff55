from __future__ import annotations

import numpy as np
import pytest
import torch

from rlnas.benchmarks import load_benchmark
from rlnas.cells import INPUT2
from rlnas.cells.encoding import OPS_START
from rlnas.errors import ConfigError, RlnasError
from rlnas.predictors import GINConfig, PathConfig, kendall_tau, make_predictor
from rlnas.predictors.encodings import PathVocabulary, arch_paths
from rlnas.spaces.nb201 import nb201_string_to_cell
from tests.conftest import make_cell
from tests.toy_benchmark import ToyBenchmark

#: Small settings keep the tests fast; the defaults are measured in docs/predictors.md.
FAST = {
    "path": PathConfig(epochs=30, num_threads=1),
    "gin": GINConfig(epochs=30, hidden_size=16, num_layers=2, num_threads=1),
}


@pytest.fixture(scope="module")
def cifar100():
    return load_benchmark("nb201-cifar100")


def unique_samples(space, n: int, rng: np.random.Generator, exclude: frozenset = frozenset()) -> list:
    cells: dict[int, object] = {}
    while len(cells) < n:
        cell = space.sample(rng)
        if cell.key not in exclude:
            cells.setdefault(cell.key, cell)
    return list(cells.values())


def train_and_test(benchmark, n_train: int, n_test: int, seed: int):
    rng = np.random.default_rng(seed)
    train = unique_samples(benchmark.space, n_train, rng)
    test = unique_samples(benchmark.space, n_test, rng, frozenset(c.key for c in train))
    scores = [benchmark.lookup(c, None).score for c in train]
    truth = np.array([benchmark.lookup(c, None).score for c in test])
    return train, scores, test, truth


# ---------------------------------------------------------------------------- encodings and metric


def test_path_encoding_of_an_nb101_cell_names_each_input_output_path_by_its_ops():
    # input -> conv3x3 (0) -> maxpool (2) -> output, input -> conv1x1 (1) -> output, input -> output
    cell = make_cell([[0, 1, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5], [0, 1, 2])
    assert arch_paths(cell) == {(0, 0), (0, 0, 0, 2), (0, 0, 1)}  # (cell, source, ops...)


def test_path_encoding_of_an_nb201_cell_follows_its_edges_to_node_3():
    # edges (1<-0)=1, (2<-0)=2, (2<-1)=3, (3<-0)=4, (3<-1)=1, (3<-2)=2; the sum vertices carry no op
    paths = arch_paths(nb201_string_to_cell("123412"))
    assert paths == {(0, 0, 4), (0, 0, 1, 1), (0, 0, 2, 2), (0, 0, 1, 3, 2)}


def test_path_encoding_is_the_same_for_isomorphic_cells():
    a = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 2])
    b = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [2, 0])
    assert a.key == b.key and a != b
    assert arch_paths(a) == arch_paths(b)


def test_path_vocabulary_keeps_the_most_frequent_paths_and_drops_unknown_ones():
    sets = [frozenset({(0, 1), (0, 2)}), frozenset({(0, 1)}), frozenset({(0, 1), (0, 3)})]
    vocabulary = PathVocabulary(sets, max_features=2)
    assert vocabulary.index == {(0, 1): 0, (0, 2): 1}  # (0, 2) and (0, 3) tie on count; order breaks it
    features = vocabulary.encode([frozenset({(0, 3), (0, 2)}), frozenset({(0, 9)})])
    assert features.tolist() == [[0, 1], [0, 0]]


def test_kendall_tau_by_hand():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one tie in y: 5 concordant pairs, 0 discordant; tau-b = 5 / sqrt(6 * 5)
    assert kendall_tau([1, 2, 3, 4], [1, 1, 2, 3]) == pytest.approx(5 / np.sqrt(30))
    # 2 concordant, 1 discordant of 3 pairs
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------- settings


def test_settings_are_validated_with_a_named_error():
    with pytest.raises(ConfigError, match="ensemble_size"):
        PathConfig(ensemble_size=0)
    with pytest.raises(ConfigError, match="loss"):
        GINConfig(loss="huber")
    with pytest.raises(ConfigError, match="unknown predictor 'forest'"):
        make_predictor(load_benchmark("nb201-cifar10").space, "forest")


def test_predict_before_fit_and_fit_on_too_few_cells_are_errors(cifar100):
    predictor = make_predictor(cifar100.space, FAST["path"])
    cell = cifar100.space.sample(np.random.default_rng(0))
    with pytest.raises(RlnasError, match="not been fitted"):
        predictor.predict([cell])
    with pytest.raises(RlnasError, match="at least 2"):
        predictor.fit([cell], [0.5], np.random.default_rng(0))


# ---------------------------------------------------------------------------- real behaviour


@pytest.mark.parametrize("name", ["path", "gin"])
def test_predictors_rank_unqueried_nb201_cells(name, cifar100):
    train, scores, test, truth = train_and_test(cifar100, 80, 300, seed=0)
    predictor = make_predictor(cifar100.space, FAST[name])
    predictor.fit(train, scores, np.random.default_rng(1))
    mean, std = predictor.predict(test)
    assert mean.shape == std.shape == (300,)
    assert kendall_tau(mean, truth) > 0.45
    # the members agree more on the cells they were trained on than on unqueried ones
    assert predictor.predict(train)[1].mean() < std.mean()


@pytest.mark.parametrize("name", ["path", "gin"])
def test_predictors_rank_unqueried_nb101_cells(name, nb101):
    train, scores, test, truth = train_and_test(nb101, 80, 300, seed=0)
    predictor = make_predictor(nb101.space, FAST[name])
    predictor.fit(train, scores, np.random.default_rng(1))
    assert kendall_tau(predictor.predict(test)[0], truth) > 0.3


@pytest.mark.parametrize("name", ["path", "gin"])
def test_fits_are_deterministic_for_a_seed_and_leave_torch_global_state_alone(name, cifar100):
    train, scores, test, _ = train_and_test(cifar100, 32, 50, seed=3)
    rng_state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    predictions = []
    for seed in (5, 5, 6):
        predictor = make_predictor(cifar100.space, FAST[name])
        predictor.fit(train, scores, np.random.default_rng(seed))
        predictions.append(predictor.predict(test))
    assert np.array_equal(predictions[0][0], predictions[1][0]) and np.array_equal(predictions[0][1], predictions[1][1])
    assert not np.allclose(predictions[0][0], predictions[2][0])
    assert torch.equal(torch.random.get_rng_state(), rng_state) and torch.get_num_threads() == threads


def test_one_thread_setting_is_restored(cifar100):
    train, scores, _, _ = train_and_test(cifar100, 20, 1, seed=0)
    threads = torch.get_num_threads()
    config = PathConfig(epochs=2, num_threads=1 if threads > 1 else 2)
    make_predictor(cifar100.space, config).fit(train, scores, np.random.default_rng(0))
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("name", ["path", "gin"])
def test_isomorphic_cells_get_the_same_prediction(name, nb101):
    train, scores, _, _ = train_and_test(nb101, 30, 1, seed=0)
    predictor = make_predictor(nb101.space, FAST[name])
    predictor.fit(train, scores, np.random.default_rng(0))
    a = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [0, 2])
    b = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [2, 0])
    mean, std = predictor.predict([a, b])
    assert mean[0] == pytest.approx(mean[1], abs=1e-6) and std[0] == pytest.approx(std[1], abs=1e-6)


@pytest.mark.parametrize("name", ["path", "gin"])
def test_sizes_come_from_the_space(name):
    """A 12-vertex space with 3 ops: nothing in the predictors assumes NB101's or NB201's sizes."""
    toy = ToyBenchmark(max_vertices=12)
    rng = np.random.default_rng(0)
    cells = []
    for _ in range(60):
        cell = toy.space.sample(rng)
        for _ in range(4):
            cell = toy.space.mutate(cell, rng)
        cells.append(cell)
    assert max(c.num_vertices for c in cells) > 7
    scores = [toy.lookup(c, None).score for c in cells]
    predictor = make_predictor(toy.space, FAST[name])
    predictor.fit(cells[:40], scores[:40], rng)
    assert kendall_tau(predictor.predict(cells[40:])[0], scores[40:]) > 0.3


@pytest.mark.parametrize("name", ["path", "gin"])
def test_predictors_rank_two_cell_darts_architectures(name):
    """DARTS (the distilled NB301 surrogate): a normal and a reduction cell of 15 vertices each."""
    benchmark = load_benchmark("nb301-distilled")
    train, scores, test, truth = train_and_test(benchmark, 60, 150, seed=0)
    assert len(train[0].cells) == 2
    predictor = make_predictor(benchmark.space, FAST[name])
    predictor.fit(train, scores, np.random.default_rng(0))
    assert kendall_tau(predictor.predict(test)[0], truth) > 0.3
    with pytest.raises(RlnasError, match="2 cells"):
        predictor.predict([train[0].cells[0]])  # one cell of an architecture is not an architecture


def test_gin_gives_darts_second_input_a_token_no_op_has():
    """The second input vertex of a DARTS cell once shared op 0's one-hot."""
    benchmark = load_benchmark("nb301-distilled")
    arch = benchmark.space.sample(np.random.default_rng(0))
    predictor = make_predictor(benchmark.space, FAST["gin"])
    one_hot = predictor.encode([arch], fitting=False)[0][0, 0]  # first cell, vertices x vocabulary
    ops = np.array(arch.cells[0].ops)
    (second_input,) = one_hot[ops == INPUT2]
    assert second_input[:OPS_START].sum() == 1 and second_input[OPS_START:].sum() == 0  # op k is OPS_START + k
