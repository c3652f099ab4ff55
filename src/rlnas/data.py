"""Where the benchmark data and rlnas' own caches live."""

from __future__ import annotations

import os
from pathlib import Path

from rlnas.errors import DataError

DATA_ENV = "RLNAS_DATA"
CACHE_ENV = "RLNAS_CACHE"


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data folder from `--data` or RLNAS_DATA, checked to exist."""
    raw = explicit if explicit is not None else os.environ.get(DATA_ENV)
    if not raw:
        raise DataError(
            f"no data folder given: set {DATA_ENV} (e.g. export {DATA_ENV}=../shared/data) or pass --data DIR"
        )
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise DataError(
            f"the data folder {path} does not exist: point {DATA_ENV} or --data at the folder holding nb101/"
        )
    return path


def cache_dir() -> Path:
    """Built caches go here (RLNAS_CACHE, default ~/.cache/rlnas): the data folder may be read-only."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rlnas").expanduser()
