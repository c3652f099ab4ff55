"""NAS-Bench-301 on the DARTS space: a surrogate distilled by rlnas, and the official surrogate ensemble.

`nb301-distilled` is a model of the *official NAS-Bench-301 surrogate's predictions*: it is fitted
to the 500 DARTS architectures of the shared data (`nb301/naslib_zc_nasbench301.json`), whose
CIFAR-10 validation accuracies were predicted by NAS-Bench-301's XGBoost ensemble, not measured.
Its numbers are never NAS-Bench-301 results. Its features do not change when the intermediate
nodes are renumbered, so isomorphic architectures get one score, as `DARTS_SPACE.identity` merges
them. The fitted model ships as `nb301_distilled.npz` (plain arrays, no pickle) and is refitted,
with the model chosen by k-fold Kendall tau, by

    python -m rlnas.benchmarks.nb301 --refit [--data DIR]

`nb301:DIR` loads the official NAS-Bench-301 v1.0 models (`nb_models_1.0`: `xgb_v1.0`, the
performance ensemble, and `lgb_runtime_v1.0`, the runtime ensemble) with current xgboost and
lightgbm (`pip install rlnas[nb301]`), without NAS-Bench-301's own code or its pinned versions.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation, check_repeat
from rlnas.cells import Arch
from rlnas.errors import DataError, RlnasError
from rlnas.spaces.darts import CONFIG_PREFIX, DARTS_OPS, DARTS_SPACE, NODES, Pairs, from_naslib, to_config, to_naslib

SHARED_FILE = Path("nb301") / "naslib_zc_nasbench301.json"
MODEL_FILE = "nb301_distilled.npz"
#: Version of `features`; a model file made for another version is refused.
FEATURE_VERSION = 1
# NB301's evaluation network: 8 cells from 32 channels; the channels of its normal and reduction cells.
_NORMAL_CHANNELS = (32, 32, 64, 64, 128, 128)
_REDUCE_CHANNELS = (64, 128)


# ---------------------------------------------------------------- features
def cell_features(pairs: Pairs) -> np.ndarray:
    """Features of one cell that a renumbering of its intermediate nodes leaves unchanged.

    Op counts by kind of source (input 0, input 1, an intermediate node): 3 x 7; the cell's depth
    (longest path in nodes), edges from the inputs, from input 0, from input 1, intermediate
    nodes used as sources, nodes fed by inputs only; the squared number of convolutions.
    """
    depth = {0: 0, 1: 0}
    counts = np.zeros((3, len(DARTS_OPS)))
    for i, node in enumerate(NODES):
        (a, op_a), (b, op_b) = pairs[2 * i], pairs[2 * i + 1]
        depth[node] = 1 + max(depth[a], depth[b])
        counts[min(a, 2), op_a] += 1
        counts[min(b, 2), op_b] += 1
    sources = [src for src, _ in pairs]
    convs = counts[:, DARTS_OPS.index("sep_conv_3x3") :].sum()
    topology = [
        max(depth.values()),
        sum(s < 2 for s in sources),
        sources.count(0),
        sources.count(1),
        len({s for s in sources if s >= 2}),
        sum(depth[n] == 1 for n in NODES),
        convs * convs,
    ]
    return np.concatenate([counts.ravel(), topology])


def features(arch: Arch) -> np.ndarray:
    normal, reduce = DARTS_SPACE.pairs(arch)
    return np.concatenate([cell_features(normal), cell_features(reduce)])


def params_millions(arch: Arch, base: float) -> float:
    """NB301's parameter count (millions), exact on all 500 shared architectures (see tests/test_darts.py)."""
    total = base
    for pairs, channels in zip(DARTS_SPACE.pairs(arch), (_NORMAL_CHANNELS, _REDUCE_CHANNELS), strict=True):
        sq, lin = sum(c * c for c in channels), sum(channels)
        for src, op in pairs:
            name = DARTS_OPS[op]
            if name.startswith("sep_conv"):
                total += 2 * sq + 2 * int(name[-1]) ** 2 * lin
            elif name.startswith("dil_conv"):
                total += sq + int(name[-1]) ** 2 * lin
            elif name == "skip_connect" and channels is _REDUCE_CHANNELS and src < 2:
                total += sq  # a stride-2 skip is a FactorizedReduce
    return total / 1e6


# ---------------------------------------------------------------- the shipped model: ridge, trees, or their mean
@dataclass(frozen=True)
class DistilledModel:
    """Plain arrays: a ridge model and boosted regression trees (padded to one node count), mixed by `weights`."""

    ridge_coef: np.ndarray
    ridge_intercept: float
    tree_feature: np.ndarray  # (trees, nodes); -1 on leaves
    tree_threshold: np.ndarray
    tree_left: np.ndarray
    tree_right: np.ndarray
    tree_value: np.ndarray
    tree_init: float
    tree_rate: float
    weights: np.ndarray  # (ridge, trees)
    noise_std: float  # held-out RMSE of the chosen model, in accuracy points
    params_base: float
    meta: str  # JSON: the chosen model, the k-fold results, the data file's hash

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted validation accuracy (percent) of each row of features."""
        out = np.zeros(len(x))
        if self.weights[0]:
            out += self.weights[0] * (x @ self.ridge_coef + self.ridge_intercept)
        if self.weights[1]:
            out += self.weights[1] * self._trees(x)
        return out

    def _trees(self, x: np.ndarray) -> np.ndarray:
        trees = np.arange(len(self.tree_feature))
        node = np.zeros((len(x), len(trees)), dtype=np.int64)
        rows = np.arange(len(x))[:, None]
        for _ in range(self.tree_feature.shape[1]):
            feature = self.tree_feature[trees, node]
            inner = feature >= 0
            if not inner.any():
                break
            go_left = x[rows, np.maximum(feature, 0)] <= self.tree_threshold[trees, node]
            step = np.where(go_left, self.tree_left[trees, node], self.tree_right[trees, node])
            node = np.where(inner, step, node)
        return self.tree_init + self.tree_rate * self.tree_value[trees, node].sum(axis=1)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, feature_version=FEATURE_VERSION, **self.__dict__)

    @classmethod
    def load(cls, source) -> DistilledModel:
        try:
            with np.load(source, allow_pickle=False) as z:
                if int(z["feature_version"]) != FEATURE_VERSION:
                    raise DataError(f"{MODEL_FILE} was fitted for other features; refit: python -m {__name__} --refit")
                fields = {name: z[name] for name in cls.__dataclass_fields__}
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"cannot read the distilled NB301 model ({exc}); reinstall rlnas or refit it") from exc
        scalars = ("ridge_intercept", "tree_init", "tree_rate", "noise_std", "params_base")
        fields |= {name: float(fields[name]) for name in scalars} | {"meta": str(fields["meta"])}
        return cls(**fields)


class NB301DistilledBenchmark(Benchmark):
    """A distilled surrogate: rlnas's model of the official NAS-Bench-301 surrogate's predictions.

    `repeat="mean"` answers the model's prediction; `repeat="random"` adds Gaussian observation
    noise from the query's generator, with the model's held-out error as its standard deviation.
    """

    name = "nb301-distilled"
    space = DARTS_SPACE
    metric = "distilled_validation_accuracy"
    best_possible = None
    description = (
        "DARTS space, CIFAR-10 validation accuracy as predicted by rlnas's distilled model OF the official "
        "NAS-Bench-301 surrogate's predictions (fitted to 500 shared architectures; not NAS-Bench-301 results)"
    )

    def __init__(self, repeat: str = "mean", model: DistilledModel | None = None):
        check_repeat(repeat)
        self.repeat = repeat
        self.model = model or DistilledModel.load(resources.files(__package__) / MODEL_FILE)

    def identity(self, cell: Arch) -> object:
        return self.space.identity(cell)

    def lookup(self, pruned: Arch, rng: np.random.Generator | None) -> Evaluation:
        return self.lookup_many([pruned], rng)[0]

    def lookup_many(self, archs: Sequence[Arch], rng: np.random.Generator | None = None) -> list[Evaluation]:
        """Several look-ups in one vectorised prediction (the same results as one by one)."""
        predictions = self.model.predict(np.array([features(a) for a in archs]))
        results = []
        for arch, prediction in zip(archs, predictions, strict=True):
            if self.repeat == "random" and rng is not None:
                prediction += rng.normal(0.0, self.model.noise_std)
            metrics = {
                self.metric: float(prediction) / 100.0,
                "params": params_millions(arch, self.model.params_base),
            }
            results.append(Evaluation(arch, to_naslib(arch), metrics[self.metric], metrics))
        return results


# ---------------------------------------------------------------- refit
def read_shared(data: str | Path | None) -> tuple[list[Arch], np.ndarray, np.ndarray, str]:
    """(architectures, validation accuracies in percent, parameters in millions, sha256) of the shared file."""
    from rlnas.data import data_dir

    path = data_dir(data) / SHARED_FILE
    try:
        raw = path.read_bytes()
        table = json.loads(raw)["nasbench301"]["cifar10"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {path} ({exc}); point RLNAS_DATA or --data at the folder holding nb301/") from exc
    archs = [from_naslib(key) for key in table]
    accuracy = np.array([row["val_accuracy"] for row in table.values()])
    params = np.array([row["params"] for row in table.values()])
    return archs, accuracy, params, hashlib.sha256(raw).hexdigest()


#: Candidates compared by k-fold rank correlation: (name, ridge alpha or None, boosted trees?).
CANDIDATES = (
    ("ridge(alpha=1)", 1.0, False),
    ("ridge(alpha=10)", 10.0, False),
    ("gbt", None, True),
    ("ridge(alpha=1)+gbt", 1.0, True),
    ("ridge(alpha=10)+gbt", 10.0, True),
)
FOLDS, CV_REPEATS = 5, 3


def fit(x: np.ndarray, y: np.ndarray, alpha: float | None, trees: bool) -> DistilledModel:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import Ridge

    coef, intercept = np.zeros(x.shape[1]), 0.0
    if alpha is not None:
        ridge = Ridge(alpha=alpha).fit(x, y)
        coef, intercept = ridge.coef_, float(ridge.intercept_)
    arrays = [np.full((1, 1), -1), np.zeros((1, 1)), np.zeros((1, 1), int), np.zeros((1, 1), int), np.zeros((1, 1))]
    init, rate = 0.0, 0.0
    if trees:
        gbt = GradientBoostingRegressor(
            n_estimators=300, learning_rate=0.05, max_depth=2, subsample=0.8, random_state=0
        ).fit(x, y)
        fitted = [est.tree_ for est in gbt.estimators_[:, 0]]
        width = max(t.node_count for t in fitted)

        def pad(values, fill):
            return np.array([np.pad(v, (0, width - len(v)), constant_values=fill) for v in values])

        arrays = [
            pad([t.feature for t in fitted], -1),
            pad([t.threshold for t in fitted], 0.0),
            pad([t.children_left for t in fitted], -1),
            pad([t.children_right for t in fitted], -1),
            pad([t.value[:, 0, 0] for t in fitted], 0.0),
        ]
        init, rate = float(gbt.init_.constant_.ravel()[0]), gbt.learning_rate
    weights = np.array([alpha is not None, trees], dtype=float)
    return DistilledModel(coef, intercept, *arrays, init, rate, weights / weights.sum(), 0.0, 0.0, "{}")


def cross_validate(x: np.ndarray, y: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
    """k-fold Kendall tau, Spearman and RMSE of each candidate (mean, std over repeats), and held-out predictions."""
    from scipy.stats import kendalltau, spearmanr
    from sklearn.model_selection import KFold

    report, held_out = {}, {}
    for name, alpha, trees in CANDIDATES:
        taus, rhos, rmses, preds = [], [], [], []
        for repeat in range(CV_REPEATS):
            pred = np.zeros(len(y))
            for train, test in KFold(FOLDS, shuffle=True, random_state=repeat).split(x):
                pred[test] = fit(x[train], y[train], alpha, trees).predict(x[test])
            taus.append(kendalltau(y, pred)[0])
            rhos.append(spearmanr(y, pred)[0])
            rmses.append(float(np.sqrt(np.mean((pred - y) ** 2))))
            preds.append(pred)
        report[name] = {
            "kendall_tau": float(np.mean(taus)),
            "kendall_tau_std": float(np.std(taus)),
            "spearman": float(np.mean(rhos)),
            "spearman_std": float(np.std(rhos)),
            "rmse": float(np.mean(rmses)),
        }
        held_out[name] = preds[0]
        print(
            f"{name:22s} tau {np.mean(taus):.3f} +- {np.std(taus):.3f}  spearman {np.mean(rhos):.3f}", file=sys.stderr
        )
    return report, held_out


def top_report(y: np.ndarray, held_out: np.ndarray, fitted: np.ndarray, k: int = 20) -> dict:
    """What the model does on the k best architectures of the file (held-out and refitted predictions)."""
    from scipy.stats import kendalltau

    top = np.argsort(-y)[:k]
    held_rank = np.argsort(np.argsort(-held_out))
    return {
        "true_values": [float(v) for v in y[top]],
        "held_out_predictions": [float(v) for v in held_out[top]],
        "held_out_rank_of_each": [int(r) + 1 for r in held_rank[top]],
        "held_out_top_k_overlap": len(set(top) & set(np.argsort(-held_out)[:k])),
        "held_out_kendall_tau_within_top": float(kendalltau(y[top], held_out[top])[0]),
        "refit_top_k_overlap": len(set(top) & set(np.argsort(-fitted)[:k])),
        "refit_kendall_tau_within_top": float(kendalltau(y[top], fitted[top])[0]),
    }


def refit(data: str | Path | None, out: Path) -> dict:
    """Compare the candidates by k-fold rank correlation, fit the best on all 500, write it to `out`."""
    archs, y, params, digest = read_shared(data)
    x = np.array([features(a) for a in archs])
    report, held_out = cross_validate(x, y)
    chosen = max(report, key=lambda name: report[name]["kendall_tau"])
    _, alpha, trees = next(c for c in CANDIDATES if c[0] == chosen)
    model = fit(x, y, alpha, trees)
    offsets = params * 1e6 - [params_millions(a, 0.0) * 1e6 for a in archs]
    base = float(np.mean(offsets))
    if np.ptp(offsets) > 1.0:
        raise DataError(
            f"the parameter rule misses the shared file's counts by {np.ptp(offsets):.0f}; check the op order"
        )
    meta = {
        "chosen": chosen,
        "folds": FOLDS,
        "repeats": CV_REPEATS,
        "cross_validation": report,
        "top20": top_report(y, held_out[chosen], model.predict(x)),
        "data_sha256": digest,
        "label": "distilled surrogate: a model of the official NAS-Bench-301 surrogate's predictions",
    }
    model = DistilledModel(
        **{**model.__dict__, "noise_std": report[chosen]["rmse"], "params_base": base, "meta": json.dumps(meta)}
    )
    model.save(out)
    return meta


# ---------------------------------------------------------------- the official ensemble (nb_models_1.0)
PERFORMANCE_DIR, RUNTIME_DIR = "xgb_v1.0", "lgb_runtime_v1.0"
MEMBER_FILE = "surrogate_model.model"
#: NB301's fixed training hyperparameters (its api.py), merged into every query as NB301 does.
FIXED_HYPERPARAMETERS = {
    "CreateImageDataLoader:batch_size": 96,
    "ImageAugmentation:augment": True,
    "ImageAugmentation:cutout": True,
    "ImageAugmentation:cutout_holes": 1,
    "ImageAugmentation:cutout_length": 16,
    "ImageAugmentation:autoaugment": False,
    "ImageAugmentation:fastautoaugment": False,
    "LossModuleSelectorIndices:loss_module": "cross_entropy",
    "NetworkSelectorDatasetInfo:darts:auxiliary": True,
    "NetworkSelectorDatasetInfo:darts:drop_path_prob": 0.2,
    "NetworkSelectorDatasetInfo:network": "darts",
    "OptimizerSelector:optimizer": "sgd",
    "OptimizerSelector:sgd:learning_rate": 0.025,
    "OptimizerSelector:sgd:momentum": 0.9,
    "OptimizerSelector:sgd:weight_decay": 0.0003,
    "SimpleLearningrateSchedulerSelector:cosine_annealing:T_max": 100,
    "SimpleLearningrateSchedulerSelector:cosine_annealing:eta_min": 1e-8,
    "SimpleLearningrateSchedulerSelector:lr_scheduler": "cosine_annealing",
    "SimpleTrainNode:batch_loss_computation_technique": "mixup",
    "SimpleTrainNode:mixup:alpha": 0.2,
    "NetworkSelectorDatasetInfo:darts:init_channels": 32,
    "NetworkSelectorDatasetInfo:darts:layers": 8,
}


def _encoders() -> dict[str, object]:
    """How ConfigSpace 0.4 (NB301's pin) turns each hyperparameter into its vector entry.

    Categoricals: the index of the value among the choices; constants: 0; uniform floats: the
    position in [lower, upper] (of the logs when log-scaled), integers the same over
    [lower - 0.49999, upper + 0.49999]; normal floats: the value (its log when log-scaled).
    NB301's loader replaces layers, init_channels, T_max and eta_min by wide uniform ranges.
    """

    def uniform(lower: float, upper: float, log: bool = False, integer: bool = False):
        if integer:
            lower, upper = lower - 0.49999, upper + 0.49999
        f = np.log if log else float
        return lambda v: (f(v) - f(lower)) / (f(upper) - f(lower))

    def choice(*choices):
        return lambda v: float(choices.index(v))

    def normal(log: bool):
        return lambda v: float(np.log(v) if log else v)

    ops = choice(*DARTS_OPS)
    encoders: dict[str, object] = {
        "CreateImageDataLoader:batch_size": uniform(64, 128, log=True, integer=True),
        "ImageAugmentation:augment": choice(True),
        "ImageAugmentation:autoaugment": choice(False, True),
        "ImageAugmentation:cutout": choice(True),
        "ImageAugmentation:cutout_holes": uniform(1, 3, integer=True),
        "ImageAugmentation:cutout_length": uniform(1, 50, integer=True),
        "ImageAugmentation:fastautoaugment": choice(False, True),
        "LossModuleSelectorIndices:loss_module": choice("cross_entropy"),
        "NetworkSelectorDatasetInfo:darts:auxiliary": choice(True),
        "NetworkSelectorDatasetInfo:darts:drop_path_prob": lambda v: 0.0,
        "NetworkSelectorDatasetInfo:darts:init_channels": uniform(1, 10000, integer=True),
        "NetworkSelectorDatasetInfo:darts:layers": uniform(1, 10000, integer=True),
        "NetworkSelectorDatasetInfo:network": choice("darts"),
        "OptimizerSelector:optimizer": choice("sgd"),
        "OptimizerSelector:sgd:learning_rate": normal(log=True),
        "OptimizerSelector:sgd:momentum": uniform(0.1, 0.99),
        "OptimizerSelector:sgd:weight_decay": normal(log=True),
        "SimpleLearningrateSchedulerSelector:cosine_annealing:T_max": uniform(1, 10000, integer=True),
        "SimpleLearningrateSchedulerSelector:cosine_annealing:eta_min": uniform(0, 10000),
        "SimpleLearningrateSchedulerSelector:lr_scheduler": choice("cosine_annealing"),
        "SimpleTrainNode:batch_loss_computation_technique": choice("mixup"),
        "SimpleTrainNode:mixup:alpha": uniform(0.01, 0.7, log=True),
    }
    for cell_type in ("normal", "reduce"):
        encoders |= {f"{CONFIG_PREFIX}edge_{cell_type}_{e}": ops for e in range(14)}
        for node in NODES[1:]:
            pairs = [f"{a}_{b}" for a in range(node) for b in range(a + 1, node)]
            encoders[f"{CONFIG_PREFIX}inputs_node_{cell_type}_{node}"] = choice(*pairs)
    return encoders


_ENCODERS = _encoders()
#: ConfigSpace's vector order: unconditional hyperparameters by name, then the conditional ones (edges into
#: nodes 3..5) by name.
_CONDITIONAL = {f"{CONFIG_PREFIX}edge_{t}_{e}" for t in ("normal", "reduce") for e in range(2, 14)}
VECTOR_ORDER = tuple(sorted(set(_ENCODERS) - _CONDITIONAL)) + tuple(sorted(_CONDITIONAL))


def config_vector(arch: Arch) -> np.ndarray:
    """The input row of NB301's models: ConfigSpace's `get_array()` with inactive entries -1, as NB301 builds it."""
    config = FIXED_HYPERPARAMETERS | to_config(arch)
    return np.array([_ENCODERS[name](config[name]) if name in config else -1.0 for name in VECTOR_ORDER])


class _Captured:
    """What a pickled Booster held, without running any library code while unpickling."""

    def __setstate__(self, state: dict) -> None:
        self.state = state


class _BoosterUnpickler(pickle.Unpickler):
    """Unpickles NB301's member files, which are pickled xgboost or lightgbm Boosters, and nothing else."""

    allowed: ClassVar[dict] = {
        ("xgboost.core", "Booster"): _Captured,
        ("lightgbm.basic", "Booster"): _Captured,
        ("builtins", "bytearray"): bytearray,
        ("collections", "OrderedDict"): dict,
        ("collections", "defaultdict"): lambda *args: {},
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a pickled Booster")
        return self.allowed[module, name]


def _load_member(path: Path, kind: str):
    """One ensemble member as a predict function on rows of `config_vector`s."""
    try:
        captured = _BoosterUnpickler(io.BytesIO(path.read_bytes())).load()
        state = captured.state
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as exc:
        raise DataError(f"{path} is not a pickled Booster ({exc}); the NB301 model folder is corrupt") from exc
    try:
        if kind == "xgb":
            import xgboost as xgb

            booster = xgb.Booster.__new__(xgb.Booster)
            booster.__setstate__(dict(state))
            return booster.inplace_predict  # no DMatrix: far cheaper for a single row
        import lightgbm as lgb

        booster = lgb.Booster(model_str=state.get("_handle", state.get("handle")))
        return lambda rows: booster.predict(rows, num_threads=1)  # threads only slow down a few rows
    except ImportError as exc:
        raise DataError(
            f"nb301:DIR needs xgboost and lightgbm: pip install 'rlnas[nb301]' ({exc.name} missing)"
        ) from exc
    except Exception as exc:  # the libraries raise their own error types for a model they cannot read
        raise DataError(f"{path} does not load as a {kind} model ({type(exc).__name__}: {exc})") from exc


def load_ensemble(folder: Path, kind: str) -> list:
    """Every member of one NB301 ensemble folder, found as NB301's `load_ensemble` finds them."""
    members = sorted(folder.rglob(f"*{MEMBER_FILE}"))
    if not folder.is_dir() or not members:
        raise DataError(f"{folder} holds no */{MEMBER_FILE}: give nb301:DIR the nb_models_1.0 folder of NB301 v1.0")
    config_file = members[0].parent / "model_config.json"
    try:
        model = json.loads(config_file.read_text())["model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{config_file} is missing or unreadable ({exc}); the NB301 model folder is incomplete"
        ) from exc
    expected = {"xgb": "xgb", "lgb": "lgb_time"}[kind]
    if model != expected:
        raise DataError(f"{folder} holds a {model!r} ensemble; NB301 v1.0 has {expected!r} there")
    return [_load_member(m, kind) for m in members]


class NB301Benchmark(Benchmark):
    """The official NAS-Bench-301 v1.0 surrogate: XGBoost validation accuracy, LightGBM runtime.

    `repeat="mean"` answers the ensemble mean, as NB301's `predict(with_noise=False)`;
    `repeat="random"` adds Gaussian noise with the ensemble's spread as its standard deviation, as
    NB301's `with_noise=True`, drawn from the query's generator.
    """

    space = DARTS_SPACE
    metric = "validation_accuracy"
    cost_metric = "runtime"
    best_possible = None

    def __init__(self, directory: str | Path, repeat: str = "mean"):
        check_repeat(repeat)
        folder = Path(directory)
        self.name = f"nb301:{directory}"
        self.description = "DARTS space, CIFAR-10 validation accuracy and runtime from the official NB301 v1.0 models"
        self.repeat = repeat
        self.performance = load_ensemble(folder / PERFORMANCE_DIR, "xgb")
        self.runtime = load_ensemble(folder / RUNTIME_DIR, "lgb")

    def identity(self, cell: Arch) -> object:
        """Exact genotypes: NB301's models see node numbers, so isomorphic genotypes may score differently."""
        return self.space.pairs(cell)

    def lookup(self, pruned: Arch, rng: np.random.Generator | None) -> Evaluation:
        row = config_vector(pruned)[None, :]
        accuracy = np.array([float(np.ravel(member(row))[0]) for member in self.performance])
        runtime = float(np.mean([float(np.ravel(member(row))[0]) for member in self.runtime]))
        prediction = float(accuracy.mean())
        if self.repeat == "random" and rng is not None:
            prediction += float(rng.normal(0.0, accuracy.std()))
        metrics = {self.metric: prediction / 100.0, "runtime": runtime}
        return Evaluation(pruned, to_naslib(pruned), metrics[self.metric], metrics)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--refit", action="store_true", help="refit the distilled model from the shared data")
    parser.add_argument("--data", help="folder holding nb301/ (default: $RLNAS_DATA)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(MODEL_FILE), help="model file to write")
    args = parser.parse_args(argv)
    if not args.refit:
        parser.error("nothing to do: give --refit")
    try:
        report = refit(args.data, args.out)
    except RlnasError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
