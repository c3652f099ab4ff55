"""Writing files so that a kill never leaves a half-written one (write beside, then rename), and reading back the
versioned PyTorch files rlnas writes (policies, checkpoints) with one-line errors."""

from __future__ import annotations

import fcntl
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rlnas.errors import CheckpointError, RlnasError

#: Temporary files are named `.NAME.tmpPID`; a later run removes those a killed writer left.
TMP_MARK = ".tmp"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write `path` through; renamed onto it only if the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def held_folder(folder: Path, command: str) -> Iterator[None]:
    """`folder`, made if missing, held for one command while it writes there: a second rlnas command on it is
    refused in one line, rather than interleaving its writes or removing the first one's temporary files. The
    hold is the kernel's lock on the folder itself (flock), so no file is made and a killed command holds
    none. A folder made here and still empty when the command fails is removed."""
    folder = Path(folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise RlnasError(f"cannot write to {folder} ({exc.strerror}); give a writable --out with free space") from exc
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RlnasError(
                f"{folder} is in use by another running rlnas {command}; wait for it to end, or use another --out"
            ) from None
        try:
            yield
        except BaseException:
            if created and not any(folder.iterdir()):
                folder.rmdir()
            raise
    finally:
        os.close(descriptor)  # releases the hold


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files that interrupted atomic writes left in `folder`; how many."""
    removed = 0
    for tmp in Path(folder).glob(f".*{TMP_MARK}*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_torch_save(obj, path: Path) -> None:
    """`torch.save` to a temporary file in the same folder, flushed to disk, then renamed over `path`."""
    import torch

    with atomic_path(Path(path)) as tmp, tmp.open("wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def load_versioned(
    path: Path,
    fmt: str,
    version: int,
    what: str,
    weights_only: bool,
    fix: str,
    other_formats: dict[str, str] | None = None,
) -> dict:
    """torch.load a file rlnas wrote, checking its format tag and version; one-line errors (`fix` says what to
    do about a corrupt file; `other_formats` maps the tag of a file of another kind to a hint on its use)."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle before failing: the error says it
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch raises many kinds for truncated or foreign files
        raise CheckpointError(f"{path} is truncated or corrupt ({type(exc).__name__}); {fix}") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        other = (other_formats or {}).get(payload.get("format")) if isinstance(payload, dict) else None
        raise CheckpointError(f"{path} is not an rlnas {what} file" + (f"; {other}" if other else ""))
    if payload.get("version") != version:
        raise CheckpointError(f"{path} is {what} format version {payload.get('version')}; this rlnas reads {version}")
    return payload
