"""Guided edits (`rlnas.env.edit_guide`): the features, the ranks, and a choice that follows the run's scores."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from rlnas.benchmarks import Evaluation
from rlnas.env.edit_guide import EditGuide, EditGuideConfig, cell_features, ranks
from rlnas.errors import ConfigError
from rlnas.spaces.nb201 import NB201_OPS, NB201Space, nb201_cell_to_string, nb201_string_to_cell
from tests.conftest import make_cell

CHAIN = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]  # input -> a -> b -> output
SKIP = [[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]  # the chain and input -> output


def _edge_pairs(features: np.ndarray, num_ops: int) -> dict[tuple[int, int], int]:
    """The nonzero edge-pair counts of `cell_features`, by (tail kind, head kind)."""
    kinds = num_ops + 4  # the ops, then input, output, sum, second input
    pairs = features[num_ops + 2 :].reshape(kinds, kinds)
    return {(int(t), int(h)): int(pairs[t, h]) for t, h in zip(*np.nonzero(pairs), strict=True)}


def test_features_count_the_vertices_of_each_op_then_vertices_and_edges():
    assert cell_features(make_cell(CHAIN, [2, 2]), num_ops=3)[:5].tolist() == [0, 0, 2, 4, 3]
    assert cell_features(make_cell(SKIP, [0, 1]), num_ops=3)[:5].tolist() == [1, 1, 0, 4, 4]


def test_features_count_the_edges_between_each_pair_of_vertex_kinds():
    input_, output = 3, 4
    chain = cell_features(make_cell(CHAIN, [2, 2]), num_ops=3)
    assert _edge_pairs(chain, num_ops=3) == {(input_, 2): 1, (2, 2): 1, (2, output): 1}
    skip = cell_features(make_cell(SKIP, [0, 1]), num_ops=3)
    assert _edge_pairs(skip, num_ops=3) == {(input_, 0): 1, (input_, output): 1, (0, 1): 1, (1, output): 1}
    assert len(chain) == 3 + 2 + 7 * 7


def test_ranks_are_fractions_below_with_ties_counting_half():
    assert ranks(np.array([3.0, 1.0, 2.0, 2.0])).tolist() == [0.875, 0.125, 0.5, 0.5]


def _history(good_op: int) -> list[Evaluation]:
    """Ten results in which cells with more vertices of `good_op` score higher."""
    history = []
    for i in range(10):
        ops = [good_op if i % 3 else 1 - good_op, good_op if i % 2 else 1 - good_op]
        score = 0.5 + 0.1 * ops.count(good_op) + 0.001 * i
        history.append(Evaluation(make_cell(CHAIN, ops), str(i), score, {}))
    return history


def _draws(guide_history: list[Evaluation], candidates: dict, seed: int, n: int = 200) -> Counter:
    rng = np.random.default_rng(seed)
    guide = EditGuide(num_ops=3)
    return Counter(guide.choose(guide_history, candidates, rng) for _ in range(n))


def test_the_guide_draws_edits_towards_the_ops_that_scored_well_and_follows_the_scores_when_they_change():
    candidates = {7: make_cell(CHAIN, [0, 0]), 9: make_cell(CHAIN, [1, 1])}
    op0_good = _draws(_history(good_op=0), candidates, seed=0)
    op1_good = _draws(_history(good_op=1), candidates, seed=0)
    assert op0_good[7] > 0.9 * 200 and op1_good[9] > 0.9 * 200
    assert _draws(_history(good_op=0), candidates, seed=3) == _draws(_history(good_op=0), candidates, seed=3)


def test_before_enough_results_the_guide_draws_uniformly():
    candidates = {7: make_cell(CHAIN, [0, 0]), 9: make_cell(CHAIN, [1, 1])}
    early = _draws(_history(good_op=0)[: EditGuideConfig().min_results - 1], candidates, seed=0)
    assert 70 < early[7] < 130 and early[7] + early[9] == 200


class _Run:
    """The part of a `QuerySession` that `choose_sample` reads: the history and which cells it holds."""

    def __init__(self, history: list[Evaluation]):
        self.history = history

    def seen(self, cell) -> bool:
        return any(result.cell.key == cell.key for result in self.history)


def _nb201_run(strings: list[str]) -> _Run:
    """Results on NB201 cells, the later ones scoring higher."""
    return _Run([Evaluation(nb201_string_to_cell(s), s, 0.5 + 0.01 * i, {}) for i, s in enumerate(strings)])


def test_a_fresh_sample_from_mutants_only_is_within_mutant_edits_of_the_runs_best_cell():
    run = _nb201_run(["000000", "111111", "222222", "333333", "444444", "012340"])
    config = EditGuideConfig(fresh_candidates=0, fresh_mutants=8, mutant_parents=1, mutant_edits=2, fresh_uniform=0)
    guide, rng = EditGuide(len(NB201_OPS), config), np.random.default_rng(0)
    for _ in range(20):
        cell = guide.choose_sample(run, NB201Space(), rng)
        changed = sum(a != b for a, b in zip(nb201_cell_to_string(cell), "012340", strict=True))
        assert 1 <= changed <= 2 and not run.seen(cell)


def test_a_fresh_uniform_fraction_of_fresh_samples_is_left_to_the_sampler():
    run = _nb201_run(["000000", "111111", "222222", "333333", "444444", "012340"])
    for fraction, expected in ((0.0, 0), (1.0, 200), (1 / 3, 200 / 3)):
        guide, rng = EditGuide(len(NB201_OPS), EditGuideConfig(fresh_uniform=fraction)), np.random.default_rng(1)
        left = sum(guide.choose_sample(run, NB201Space(), rng) is None for _ in range(200))
        assert abs(left - expected) < 25


def test_a_bad_guide_setting_is_refused_with_the_setting_named():
    for settings, named in (({"fresh_uniform": 1.5}, "fresh_uniform"), ({"mutant_parents": 0}, "mutant_parents")):
        with pytest.raises(ConfigError, match=named):
            EditGuideConfig(**settings)


def test_the_edge_pairs_join_the_model_only_after_pair_min_results():
    """Chains a->b and b->a have the same op counts; only the edge pairs tell them apart."""
    history = [Evaluation(make_cell(CHAIN, [i % 2, 1 - i % 2]), str(i), 0.5 + 0.1 * (i % 2), {}) for i in range(10)]
    candidates = {7: make_cell(CHAIN, [0, 1]), 9: make_cell(CHAIN, [1, 0])}
    for pair_min_results, low, high in ((11, 70, 130), (10, -1, 20)):
        guide, rng = EditGuide(3, EditGuideConfig(pair_min_results=pair_min_results)), np.random.default_rng(0)
        picks = Counter(guide.choose(history, candidates, rng) for _ in range(200))
        assert low < picks[7] < high and picks[7] + picks[9] == 200
