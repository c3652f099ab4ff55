"""nb301-distilled (a model of the official surrogate's predictions) and the nb301:DIR loader of official models."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.stats import kendalltau

from rlnas.benchmarks.nb301 import (
    MEMBER_FILE,
    PERFORMANCE_DIR,
    RUNTIME_DIR,
    VECTOR_ORDER,
    DistilledModel,
    NB301Benchmark,
    NB301DistilledBenchmark,
    config_vector,
    features,
    read_shared,
    refit,
)
from rlnas.benchmarks.nb301 import main as nb301_main
from rlnas.cells import Arch
from rlnas.errors import DataError
from rlnas.spaces.darts import CONFIG_PREFIX, DARTS_OPS, DARTS_SPACE, from_genotype, pairs_to_cell
from tests.test_darts import DARTS_V2


@pytest.fixture(scope="module")
def shared(data_path):
    archs, accuracy, params, _ = read_shared(data_path)
    return archs, accuracy, params


@pytest.fixture(scope="module")
def distilled():
    return NB301DistilledBenchmark()


# ---------------------------------------------------------------- the distilled surrogate
def test_distilled_model_tracks_the_official_predictions_and_says_what_it_is(distilled, shared):
    archs, accuracy, params = shared
    results = [distilled.lookup(a, None) for a in archs]
    scores = np.array([r.score for r in results])
    assert kendalltau(scores, accuracy)[0] > 0.8  # in-sample; held-out figures are in the model's meta
    assert np.all((scores > 0.85) & (scores < 0.96))  # a fraction, like every rlnas accuracy
    assert np.allclose([r.metrics["params"] for r in results], params, atol=1e-9)  # the exact NB301 rule
    assert "distilled" in distilled.name and "distilled" in distilled.metric
    assert "official NAS-Bench-301 surrogate" in distilled.description and distilled.best_possible is None
    meta = json.loads(distilled.model.meta)
    chosen = meta["cross_validation"][meta["chosen"]]
    assert chosen["kendall_tau"] == max(m["kendall_tau"] for m in meta["cross_validation"].values())
    assert chosen["kendall_tau"] > 0.7 and chosen["spearman"] > 0.85


def test_isomorphic_architectures_score_the_same_and_are_one_identity(distilled):
    arch = from_genotype(DARTS_V2)
    normal = DARTS_SPACE.pairs(arch)[0]
    # DARTS V2's nodes 4 and 5 both draw only on inputs and node 2, so swapping them is a renumbering
    swapped = (*normal[:4], *normal[6:], *normal[4:6])
    renumbered = Arch((pairs_to_cell(swapped), arch.cells[1]))
    assert renumbered != arch
    assert distilled.lookup(renumbered, None).score == distilled.lookup(arch, None).score
    assert distilled.identity(renumbered) == distilled.identity(arch)
    session = distilled.session(budget=1)
    session.query(arch)
    assert session.query(renumbered) is session.history[0] and session.unique_queries == 1
    assert (features(renumbered) == features(arch)).all()


def test_observation_noise_comes_from_the_query_generator(distilled):
    noisy = NB301DistilledBenchmark("random", distilled.model)
    arch = from_genotype(DARTS_V2)
    mean = distilled.lookup(arch, None).score
    draws = [noisy.lookup(arch, np.random.default_rng(s)).score for s in range(400)]
    assert draws[:3] == [noisy.lookup(arch, np.random.default_rng(s)).score for s in range(3)]
    assert np.std(draws) * 100 == pytest.approx(distilled.model.noise_std, rel=0.15)
    assert np.mean(draws) == pytest.approx(mean, abs=3 * distilled.model.noise_std / 100 / 20)
    assert noisy.lookup(arch, None).score == mean


def test_batched_lookups_equal_single_ones(distilled):
    rng = np.random.default_rng(4)
    archs = [DARTS_SPACE.sample(rng) for _ in range(64)]
    assert [r.score for r in distilled.lookup_many(archs)] == pytest.approx(
        [distilled.lookup(a, None).score for a in archs]
    )


@pytest.mark.slow
def test_refit_reproduces_the_shipped_model(data_path, tmp_path, distilled, shared):
    meta = refit(data_path, tmp_path / "model.npz")
    again = DistilledModel.load(tmp_path / "model.npz")
    x = np.array([features(a) for a in shared[0]])
    assert np.allclose(again.predict(x), distilled.model.predict(x), atol=1e-9)
    assert meta == json.loads(distilled.model.meta)


# ---------------------------------------------------------------- NAS-Bench-301's own models
def test_config_vector_follows_configspace_order_and_marks_inactive_edges():
    arch = from_genotype(DARTS_V2)
    vector = config_vector(arch)
    assert len(vector) == len(VECTOR_ORDER) == 22 + 2 * (2 + 3) + 2 * 12
    assert list(VECTOR_ORDER[:2]) == ["CreateImageDataLoader:batch_size", "ImageAugmentation:augment"]
    assert VECTOR_ORDER[-1] == f"{CONFIG_PREFIX}edge_reduce_9" and VECTOR_ORDER[32] == f"{CONFIG_PREFIX}edge_normal_10"
    assert vector[VECTOR_ORDER.index(f"{CONFIG_PREFIX}edge_normal_0")] == DARTS_OPS.index("sep_conv_3x3")
    assert vector[VECTOR_ORDER.index(f"{CONFIG_PREFIX}inputs_node_normal_5")] == 1  # '0_2' among '0_1', '0_2', ...
    assert (vector == -1).sum() == 2 * 6  # per cell, 12 conditional edges of which 6 are used


def write_official_layout(folder, archs, targets, kind: str, members: int = 2) -> list[np.ndarray]:
    """Fit small models on the shared architectures and write them as NB301 writes its ensembles."""
    rows = np.array([config_vector(a) for a in archs])
    predictions = []
    for seed in range(members):
        member = folder / f"member_{seed}"
        member.mkdir(parents=True)
        if kind == "xgb":
            import xgboost as xgb

            booster = xgb.train(
                {"max_depth": 3, "subsample": 0.7, "seed": seed, "nthread": 1},
                xgb.DMatrix(rows, label=targets),
                num_boost_round=30,
            )
            predictions.append(booster.predict(xgb.DMatrix(rows)))
        else:
            import lightgbm as lgb

            booster = lgb.train(
                {"num_leaves": 8, "bagging_fraction": 0.7, "bagging_freq": 1, "seed": seed, "verbose": -1},
                lgb.Dataset(rows, label=targets),
                num_boost_round=30,
            )
            predictions.append(booster.predict(rows))
        (member / MEMBER_FILE).write_bytes(pickle.dumps(booster))
        (member / "model_config.json").write_text(json.dumps({"model": "xgb" if kind == "xgb" else "lgb_time"}))
        (member / "data_config.json").write_text(json.dumps({"seed": seed}))
    return predictions


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory, shared):
    archs, accuracy, params = shared
    folder = tmp_path_factory.mktemp("nb_models_1.0")
    accuracy_members = write_official_layout(folder / PERFORMANCE_DIR, archs, accuracy, "xgb")
    # the shared file has no runtimes: the runtime models are fitted to parameter counts, a stand-in target
    runtime_members = write_official_layout(folder / RUNTIME_DIR, archs, params * 1000, "lgb")
    return folder, np.array(accuracy_members), np.array(runtime_members)


def test_official_layout_loads_and_answers_the_ensemble_mean(official_folder, shared):
    folder, accuracy_members, runtime_members = official_folder
    bench = NB301Benchmark(folder)
    results = [bench.lookup(a, None) for a in shared[0][:100]]
    assert np.allclose([r.score * 100 for r in results], accuracy_members[:, :100].mean(axis=0), atol=1e-4)
    assert np.allclose([r.metrics["runtime"] for r in results], runtime_members[:, :100].mean(axis=0), atol=1e-6)
    assert kendalltau([r.score for r in results], shared[1][:100])[0] > 0.5
    noisy = NB301Benchmark(folder, "random")
    arch = shared[0][0]
    draws = [noisy.lookup(arch, np.random.default_rng(s)).score * 100 for s in range(300)]
    assert np.std(draws) == pytest.approx(accuracy_members[:, 0].std(), rel=0.2)
    assert noisy.lookup(arch, np.random.default_rng(1)).score == noisy.lookup(arch, np.random.default_rng(1)).score


def test_broken_model_folders_are_one_line_errors(official_folder, tmp_path):
    import shutil

    folder = official_folder[0]
    cases = {}
    cases["empty"] = tmp_path / "empty"
    cases["empty"].mkdir()
    cases["no runtime"] = tmp_path / "no_runtime"
    shutil.copytree(folder / PERFORMANCE_DIR, cases["no runtime"] / PERFORMANCE_DIR)
    for name in ("truncated", "no config", "foreign pickle", "swapped"):
        cases[name] = tmp_path / name.replace(" ", "_")
        shutil.copytree(folder, cases[name])
    member = cases["truncated"] / PERFORMANCE_DIR / "member_1" / MEMBER_FILE
    member.write_bytes(member.read_bytes()[:200])
    (cases["no config"] / RUNTIME_DIR / "member_0" / "model_config.json").unlink()
    (cases["foreign pickle"] / PERFORMANCE_DIR / "member_0" / MEMBER_FILE).write_bytes(
        pickle.dumps(len)  # a builtin that no library patches (Ray replaces print)
    )
    shutil.rmtree(cases["swapped"] / RUNTIME_DIR)
    shutil.copytree(folder / PERFORMANCE_DIR, cases["swapped"] / RUNTIME_DIR)
    messages = {
        "empty": "holds no",
        "no runtime": "lgb_runtime_v1.0 holds no",
        "truncated": "not a pickled Booster",
        "no config": "model_config.json is missing",
        "foreign pickle": "builtins.len is not part of a pickled Booster",
        "swapped": "holds a 'xgb' ensemble",
    }
    for name, path in cases.items():
        with pytest.raises(DataError, match=messages[name]) as info:
            NB301Benchmark(path)
        assert "\n" not in str(info.value), name


def test_query_prints_a_genotype_in_every_form_with_its_metrics():
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "rlnas", "query", "-b", "nb301-distilled", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    done = run("--genotype", DARTS_V2)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    arch = from_genotype(DARTS_V2)
    assert from_genotype(report["cell"]["genotype"]) == arch
    assert (
        report["hash"] == report["cell"]["naslib"] and report["cell"]["config"] == DARTS_SPACE.describe(arch)["config"]
    )
    assert report["metrics"]["distilled_validation_accuracy"] == NB301DistilledBenchmark().lookup(arch, None).score
    failed = run("--genotype", DARTS_V2.replace("normal_concat=range(2, 6)", "normal_concat=[2]"))
    assert failed.returncode == 2 and failed.stdout == "" and len(failed.stderr.strip().splitlines()) == 1


def test_refit_command_names_a_missing_data_folder_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: the data folder .*none does not exist"):
        nb301_main(["--refit", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "model.npz")])
    assert not (tmp_path / "model.npz").exists()
