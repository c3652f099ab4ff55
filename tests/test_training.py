"""train:DATASET: real children trained on the datasets pip brings (digits, mnist-5k), the store, the data readers."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from rlnas.benchmarks import load_benchmark
from rlnas.benchmarks.training import (
    ResultStore,
    ResultStoreError,
    TrainingBenchmark,
    TrainingSettings,
    stored_form,
)
from rlnas.cells import Cell
from rlnas.datasets import (
    FASHION_MNIST_DIR,
    FASHION_MNIST_FILES,
    check_dataset,
    load_dataset,
    read_fashion_mnist,
)
from rlnas.errors import ConfigError, DataError, RlnasError
from rlnas.models import Macro, parameter_count
from rlnas.spaces import NB101_SPACE, NB201_SPACE
from rlnas.spaces.nb201 import nb201_string_to_cell
from tests.conftest import make_cell

#: A child small enough to train in a second or two: 300 images, one epoch.
TINY = TrainingSettings(epochs=1, width=8, depth=1, batch_size=64, train_images=300, eval_images=100)
CELL = make_cell(
    [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
    [0, 2, 1],
)


# ---------------------------------------------------------------------------- datasets


@pytest.mark.parametrize(("name", "shape"), [("digits", (1797, 1, 8, 8)), ("mnist-5k", (5000, 1, 28, 28))])
def test_pip_datasets_load_with_fixed_seeded_splits(name, shape):
    data = load_dataset(name)
    assert data.x.shape == shape and data.num_classes == 10
    assert set(np.unique(data.y)) == set(range(10))
    train, validation, test = data.splits(0)
    everything = np.concatenate([train, validation, test])
    assert np.array_equal(np.sort(everything), np.arange(shape[0]))
    assert len(test) == round(0.2 * shape[0]) and len(validation) == round(0.2 * (shape[0] - len(test)))
    assert all(np.array_equal(a, b) for a, b in zip(data.splits(0), (train, validation, test), strict=True))
    assert not np.array_equal(data.splits(1)[2], test)


def test_fashion_mnist_loads_where_installed_and_says_how_to_install_elsewhere():
    if all((FASHION_MNIST_DIR / f).is_file() for f in FASHION_MNIST_FILES):
        data = load_dataset("fashion-mnist")
        assert data.x.shape == (70000, 1, 28, 28) and data.num_classes == 10 and data.test_start == 60000
        train, validation, test = data.splits(0)
        assert np.array_equal(np.sort(test), np.arange(60000, 70000))
        assert len(validation) == 12000 and len(train) == 48000
        check_dataset("fashion-mnist")
    else:
        with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
            load_dataset("fashion-mnist")


def test_fashion_mnist_errors_name_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"not installed .*: apt-get install dataset-fashion-mnist$"):
        read_fashion_mnist(tmp_path)
    for name in FASHION_MNIST_FILES:
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c")  # header of 2 images, then nothing
    with pytest.raises(DataError, match=r"truncated or corrupt .*apt-get install --reinstall dataset-fashion-mnist"):
        read_fashion_mnist(tmp_path)


def test_npz_of_the_users_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.integers(0, 255, size=(40, 9, 10, 3), dtype=np.uint8), y=np.array(["cat", "dog"] * 20))
    data = load_dataset(str(path))
    assert data.x.shape == (40, 3, 9, 10) and data.num_classes == 2
    np.savez(path, x=rng.random((40, 3, 12, 12)), y=np.arange(40) % 4)
    assert load_dataset(str(path)).x.shape == (40, 3, 12, 12)
    np.savez(path, x=rng.random((40, 1, 3, 3)), y=np.arange(40) % 4)  # both ends <= 4: channels first
    assert load_dataset(str(path)).x.shape == (40, 1, 3, 3)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((10, 8, 8))}, "needs arrays named x .* and y"),
        ({"x": np.zeros((10, 8, 8)), "y": np.zeros(9)}, r"one label per image, shape \(10,\)"),
        ({"x": np.zeros((10, 8)), "y": np.zeros(10)}, "give images"),
        ({"x": np.zeros((10, 8, 8)), "y": np.zeros(10)}, "1 class"),
        ({"x": np.zeros((6, 8, 8)), "y": np.arange(6) % 2}, "too few"),
        ({"x": np.full((10, 8, 8), np.nan), "y": np.arange(10) % 2}, "NaN"),
    ],
)
def test_npz_errors_are_one_line(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as error:
        load_dataset(str(path))
    assert "\n" not in str(error.value)


def test_corrupt_or_missing_npz_and_unknown_names(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=r"cannot read .* as an \.npz file"):
        load_dataset(str(tmp_path / "broken.npz"))
    with pytest.raises(DataError, match="does not exist"):
        check_dataset(str(tmp_path / "absent.npz"))
    with pytest.raises(DataError, match="unknown dataset 'cifar10'"):
        check_dataset("cifar10")


def test_folder_of_images_one_subfolder_per_class(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    for label in ("ants", "bees"):
        (tmp_path / label).mkdir()
        for k in range(6):
            pixels = rng.integers(0, 255, size=(8, 9), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{k}.png")
    data = load_dataset(str(tmp_path))
    assert data.x.shape == (12, 1, 8, 9) and list(data.y) == [0] * 6 + [1] * 6
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(tmp_path / "bees" / "small.png")
    with pytest.raises(DataError, match="resize the images to one size"):
        load_dataset(str(tmp_path))


# ---------------------------------------------------------------------------- training


def test_a_child_trains_and_reports_every_metric(tmp_path):
    benchmark = TrainingBenchmark("digits", NB101_SPACE, TINY, database=tmp_path / "r.sqlite")
    result = benchmark.evaluate(CELL)
    reported = {"validation_accuracy", "test_accuracy", "train_loss", "parameters", "training_time", "cpu_time"}
    assert set(result.metrics) == reported
    assert result.score == result.metrics["validation_accuracy"]
    assert 0 <= result.score <= 1 and 0 <= result.metrics["test_accuracy"] <= 1
    assert result.metrics["parameters"] == parameter_count(NB101_SPACE, CELL, Macro(8, 1, 1, 10))
    assert result.metrics["training_time"] > 0
    assert benchmark.best_possible is None and benchmark.cost_metric == "training_time"
    with pytest.raises(RlnasError):
        benchmark.all_scores()


def test_training_learns_on_mnist_5k(tmp_path):
    settings = TrainingSettings(epochs=2, width=8, depth=1, batch_size=32, train_images=800, eval_images=300)
    benchmark = TrainingBenchmark("mnist-5k", NB201_SPACE, settings, database=tmp_path / "r.sqlite")
    result = benchmark.evaluate(nb201_string_to_cell("123040"))
    assert result.score > 0.5  # ten classes: chance is 0.1
    assert result.metrics["test_accuracy"] > 0.5


def test_training_is_repeatable_for_a_seed_and_leaves_torch_as_it_was(tmp_path):
    threads = torch.get_num_threads()
    rng_state = torch.get_rng_state()
    runs = [
        TrainingBenchmark("digits", NB201_SPACE, settings, database=tmp_path / f"{k}.sqlite").evaluate(
            nb201_string_to_cell("312041")
        )
        for k, settings in enumerate([TINY, TINY, TrainingSettings(**{**TINY.__dict__, "seed": 1})])
    ]
    same = ("validation_accuracy", "test_accuracy", "train_loss")
    assert [runs[0].metrics[m] for m in same] == [runs[1].metrics[m] for m in same]
    assert runs[0].metrics["train_loss"] != runs[2].metrics["train_loss"]
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng_state)


# ---------------------------------------------------------------------------- the store


def test_results_are_stored_and_shared_without_retraining(tmp_path):
    database = tmp_path / "shared.sqlite"
    first = TrainingBenchmark("digits", NB101_SPACE, TINY, database=database).evaluate(CELL)
    # Another search (a new process would do the same) on the same database, with an isomorphic form.
    order = [0, 2, 1, 3, 4]
    swapped = Cell.from_matrix(CELL.matrix[np.ix_(order, order)], [CELL.ops[v] for v in order])
    assert swapped.module_hash() == CELL.module_hash() and swapped != CELL
    second = TrainingBenchmark("digits", NB101_SPACE, TINY, database=database)
    again = second.evaluate(swapped)
    assert again.metrics == first.metrics  # the stored training time too: nothing was retrained
    assert again.hash == first.hash and second.store.count() == 1
    other = TrainingBenchmark("digits", NB101_SPACE, TrainingSettings(**{**TINY.__dict__, "epochs": 2}), database)
    other.evaluate(CELL)
    assert other.store.count() == 2


def test_the_first_result_written_wins(tmp_path):
    a, b = ResultStore(tmp_path / "r.sqlite"), ResultStore(tmp_path / "r.sqlite")
    key = ("nb101", "arch", "data", "{}")
    assert a.put(*key, "digits", {"validation_accuracy": 0.5}, "cpu") == {"validation_accuracy": 0.5}
    assert b.put(*key, "digits", {"validation_accuracy": 0.9}, "cpu") == {"validation_accuracy": 0.5}
    assert b.get(*key) == {"validation_accuracy": 0.5}


def test_a_database_locked_too_long_is_a_one_line_error(tmp_path, monkeypatch):
    import sqlite3

    from rlnas.benchmarks import training

    store = ResultStore(tmp_path / "r.sqlite")
    monkeypatch.setattr(training, "BUSY_TIMEOUT", 0.1)
    other = sqlite3.connect(tmp_path / "r.sqlite")
    other.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
    try:
        with pytest.raises(ResultStoreError, match="stayed locked by another process"):
            store.put("nb101", "arch", "data", "{}", "digits", {"validation_accuracy": 0.5}, "cpu")
        assert store.get("nb101", "arch", "data", "{}") is None  # readers are not blocked (WAL)
    finally:
        other.close()


def test_a_corrupt_database_is_a_one_line_error(tmp_path):
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a database, just some bytes" * 200)
    with pytest.raises(ResultStoreError, match=r"is not a usable results database .*move it away") as error:
        TrainingBenchmark("digits", NB101_SPACE, TINY, database=path)
    assert "\n" not in str(error.value)


def test_stored_form_is_the_same_for_every_isomorphic_form():
    rng = np.random.default_rng(5)
    for _ in range(30):
        cell = NB101_SPACE.sample(rng)
        interior = rng.permutation(range(1, cell.num_vertices - 1))
        order = [0, *interior, cell.num_vertices - 1]
        position = {v: i for i, v in enumerate(order)}
        m = cell.matrix
        if any(m[u, v] and position[u] > position[v] for u in order for v in order):
            continue  # this relabelling would send an edge backwards
        relabelled = Cell.from_matrix(m[np.ix_(order, order)], [cell.ops[v] for v in order])
        assert stored_form(NB101_SPACE, relabelled) == stored_form(NB101_SPACE, cell)
        assert stored_form(NB101_SPACE, cell).module_hash() == cell.module_hash()


# ---------------------------------------------------------------------------- options and names


@pytest.mark.parametrize(
    "fields",
    [
        {"epochs": 0},
        {"batch_size": 1},
        {"learning_rate": 0.0},
        {"momentum": 1.0},
        {"train_images": 1},
        {"device": "tpu"},
    ],
)
def test_bad_settings_are_refused(fields):
    with pytest.raises(ConfigError):
        TrainingSettings(**fields)


def test_width_too_small_for_nb101_is_refused_before_training(tmp_path):
    with pytest.raises(ConfigError, match="--width 5"):
        TrainingBenchmark("digits", NB101_SPACE, TrainingSettings(width=4), database=tmp_path / "r.sqlite")


def test_registered_as_train_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("RLNAS_CACHE", str(tmp_path))
    benchmark = load_benchmark("train:digits", space="nb201")
    assert benchmark.name == "train:digits" and benchmark.space is NB201_SPACE
    assert benchmark.store.path == tmp_path / "training.sqlite"
    assert load_benchmark("train:digits", space="darts").space.name == "darts"
    with pytest.raises(RlnasError, match="not nbgraph"):
        load_benchmark("train:digits", space="nbgraph")


def test_the_best_child_is_saved_and_loads_with_one_call(tmp_path):
    from rlnas.models import load_model

    benchmark = TrainingBenchmark("digits", NB201_SPACE, TINY, tmp_path / "results.sqlite")
    cell = nb201_string_to_cell("123341")
    metrics = benchmark.save_model(cell, tmp_path / "model.pt")
    assert metrics["validation_accuracy"] == benchmark.evaluate(cell).score  # the same training as the query
    model, info = load_model(tmp_path / "model.pt")
    assert info["arch"] == NB201_SPACE.to_text(cell) and info["benchmark"] == "train:digits"
    validation = benchmark.data.splits(TINY.split_seed)[1][: TINY.eval_images]
    with torch.no_grad():  # the loaded network takes raw images: its input scaling travels with it
        predicted = model(torch.from_numpy(benchmark.data.x[validation].astype(np.float32))).argmax(1).numpy()
    assert np.mean(predicted == benchmark.data.y[validation]) == pytest.approx(metrics["validation_accuracy"])
    with pytest.raises(RlnasError, match="not a model saved by rlnas"):
        torch.save({"something": 1}, tmp_path / "other.pt")
        load_model(tmp_path / "other.pt")


def test_training_options_apply_to_train_benchmarks_only():
    benchmark = load_benchmark("train:digits", space="nb201", options=(("epochs", 1), ("width", 8)))
    assert (benchmark.settings.epochs, benchmark.settings.width) == (1, 8)
    with pytest.raises(RlnasError, match="apply to train:DATASET"):
        load_benchmark("nb201-cifar10", options=(("epochs", 2),))
    with pytest.raises(RlnasError, match="unknown training setting"):
        load_benchmark("train:digits", options=(("epoch", 2),))
