"""The compact NAS-Bench-101 table: every unique cell, its official hash and its metrics.

Both sources (the shared `cells_by_hash.npz` + `seed0_test_accuracy.npy`, and the official
`nasbench_only108.tfrecord`) are reduced to this one form, stored as an uncompressed `.npz` so
that loading it is a memory copy rather than a decompression.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rlnas.errors import DataError
from rlnas.files import atomic_path

#: Op labels as stored in `ops`: index into NB101_OPS, or one of these markers.
INPUT_LABEL, OUTPUT_LABEL, ABSENT_LABEL = -1, -2, -3
NB101_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")


@dataclass
class NB101Table:
    """All unique NB101 cells in ascending-hash order, with whatever metrics the source has.

    `metrics` maps a metric name to a float array of shape (N,) or (N, repeats). Names used:
    `test_accuracy`, `validation_accuracy`, `training_time` (seconds, 108 epochs) and
    `trainable_parameters`. Accuracies are fractions in [0, 1].
    """

    hashes: np.ndarray  # S32 (N,), official module hash, hex MD5
    adj: np.ndarray  # uint8 (N, 7, 7), pruned cell in the top-left v x v corner
    ops: np.ndarray  # int8 (N, 7): -1 input, -2 output, 0..2 op index, -3 absent
    num_vertices: np.ndarray  # uint8 (N,)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.hashes)

    def save(self, path: Path) -> None:
        """Write atomically: a kill mid-write never leaves a half-written cache behind."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"hashes": self.hashes, "adj": self.adj, "ops": self.ops, "num_vertices": self.num_vertices}
        arrays.update({f"metric_{name}": values for name, values in self.metrics.items()})
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> NB101Table:
        try:
            with np.load(path) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise DataError(f"cannot read the NB101 cache {path} ({exc}); delete it and run `rlnas data`") from exc
        missing = {"hashes", "adj", "ops", "num_vertices"} - arrays.keys()
        if missing:
            raise DataError(f"the NB101 cache {path} lacks {sorted(missing)}; delete it and run `rlnas data`")
        metrics = {name.removeprefix("metric_"): v for name, v in arrays.items() if name.startswith("metric_")}
        return cls(arrays["hashes"], arrays["adj"], arrays["ops"], arrays["num_vertices"], metrics)
