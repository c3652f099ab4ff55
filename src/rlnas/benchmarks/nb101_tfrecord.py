"""Convert the official NAS-Bench-101 `nasbench_only108.tfrecord` into an `NB101Table`, without TensorFlow.

The official reader (google-research/nasbench, `api.py`) needs TensorFlow 1 only to iterate the TFRecord
file and protobuf only to decode one two-message schema. Both formats are small and fully specified, so
reading them directly here avoids pinning a deep-learning framework for a one-time conversion.

Layers, outermost first:
  * TFRecord framing: per record, uint64 LE length, uint32 masked CRC-32C of those 8 bytes, the data,
    uint32 masked CRC-32C of the data.
  * Record data: UTF-8 JSON `[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`.
  * `raw_metrics`: base64 of a serialized `ModelMetrics` (nasbench/lib/model_metrics.proto).
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rlnas.benchmarks.nb101_table import ABSENT_LABEL, INPUT_LABEL, NB101_OPS, OUTPUT_LABEL, NB101Table
from rlnas.errors import DataError

EPOCHS = 108  # The only training length kept: it is the one NB101 results are reported at.
REPEATS = 3  # Independent trainings per cell at each epoch count in the official data.
MAX_VERTICES = 7

_REDOWNLOAD = "re-download nasbench_only108.tfrecord (linked from the NAS-Bench-101 repository)"
_CHUNK_BYTES = 1 << 22  # Read size: big enough to amortise the vectorised CRC, small enough to be cheap.
_PROGRESS_EVERY = 4096  # records
_HASH = re.compile(r"[0-9a-f]{32}")
_OP_INDEX = {name: index for index, name in enumerate(NB101_OPS)}
_json_decode = json.JSONDecoder().decode


class _Malformed(ValueError):
    """A problem inside one record; the reader adds the file, record number and offset."""


# --------------------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), the checksum TFRecord uses; zlib's CRC-32 uses another polynomial.

_CRC32C_POLY = 0x82F63B78  # bit-reversed 0x1EDC6F41
_VECTOR_MAX_LEN = 4096  # Longer ranges cost one numpy step per byte for few rows: do them in Python.


def _make_crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc >> 1) ^ _CRC32C_POLY) if crc & 1 else (crc >> 1)
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()
_CRC32C_TABLE_NP = np.array(_CRC32C_TABLE, dtype=np.uint32)


def _find_native_crc32c() -> Callable[[bytes], int] | None:
    """A C implementation if one happens to be installed; the numpy fallback is correct, just slower."""
    try:
        import google_crc32c

        if getattr(google_crc32c, "implementation", "c") == "c":
            return google_crc32c.value
    except ImportError:
        pass
    try:
        import crc32c

        return crc32c.crc32c
    except (ImportError, AttributeError):
        return None


_native_crc32c = _find_native_crc32c()


def _crc32c_python(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    """CRC-32C of `data`, natively if a C implementation is installed."""
    if _native_crc32c is not None:
        return _native_crc32c(bytes(data))
    return _crc32c_python(data)


def _crc32c_numpy(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of many byte ranges at once, one numpy step per byte position rather than per byte.

    Rows are processed longest first, so the rows still running at position j are always a prefix.
    """
    order = np.argsort(lengths, kind="stable")[::-1]
    positions = starts[order]
    running = len(order) - np.searchsorted(np.sort(lengths), np.arange(lengths.max(initial=0)), "right")
    crc = np.full(len(order), 0xFFFFFFFF, dtype=np.uint32)
    for j, k in enumerate(running.tolist()):
        head = crc[:k]
        crc[:k] = _CRC32C_TABLE_NP[(head ^ buf[positions[:k] + j]) & 0xFF] ^ (head >> 8)
    result = np.empty_like(crc)
    result[order] = crc ^ 0xFFFFFFFF
    return result


def _crc32c_ranges(buf: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of buf[start:start + length] for each pair, as uint32."""
    if _native_crc32c is not None:
        crcs = [_native_crc32c(buf[s : s + n]) for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)]
        return np.array(crcs, dtype=np.uint32)
    result = np.empty(len(starts), dtype=np.uint32)
    short = lengths <= _VECTOR_MAX_LEN
    result[short] = _crc32c_numpy(np.frombuffer(buf, dtype=np.uint8), starts[short], lengths[short])
    for i in np.flatnonzero(~short).tolist():
        result[i] = _crc32c_python(buf[starts[i] : starts[i] + lengths[i]])
    return result


def _mask(crc: int | np.ndarray) -> int | np.ndarray:
    """TFRecord's masked CRC (works on ints and uint32 arrays); masking guards against CRCs of CRCs."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------------------
# TFRecord framing.

_HEADER = struct.Struct("<QI")  # data length, masked CRC of the 8 length bytes
_FOOTER = struct.Struct("<I")  # masked CRC of the data
_FRAME_OVERHEAD = _HEADER.size + _FOOTER.size
_BAD_LENGTH_CRC = "the length field fails its CRC-32C check, so the file is corrupt"
_BAD_DATA_CRC = "the data fails its CRC-32C check, so the file is corrupt"


class _Frames(NamedTuple):
    starts: list[int]  # offset of each frame in the buffer
    lengths: list[int]  # data length claimed by each frame's header
    length_crcs: list[int]
    data_crcs: list[int]
    end: int  # offset just past the last complete frame


def _scan_frames(buf: bytes) -> _Frames:
    """Split buf into complete frames, trusting the lengths until `_first_bad_frame` checks them."""
    starts, lengths, length_crcs, data_crcs = [], [], [], []
    pos, size = 0, len(buf)
    while pos + _HEADER.size <= size:
        length, length_crc = _HEADER.unpack_from(buf, pos)
        end = pos + _FRAME_OVERHEAD + length
        if end > size:
            break
        starts.append(pos)
        lengths.append(length)
        length_crcs.append(length_crc)
        data_crcs.append(_FOOTER.unpack_from(buf, end - _FOOTER.size)[0])
        pos = end
    return _Frames(starts, lengths, length_crcs, data_crcs, pos)


def _first_bad_frame(buf: bytes, frames: _Frames) -> tuple[int, str] | None:
    """Index and description of the first frame failing a CRC, in file order.

    Lengths are checked first: frames after a corrupt length are misaligned garbage, so their data is
    neither checked (a garbage length could be huge) nor blamed.
    """
    starts = np.array(frames.starts, dtype=np.int64)
    lengths = np.full(len(starts), 8, dtype=np.int64)
    length_ok = _mask(_crc32c_ranges(buf, starts, lengths)) == np.array(frames.length_crcs, dtype=np.uint32)
    trusted = len(starts) if length_ok.all() else int(np.argmin(length_ok))
    lengths = np.array(frames.lengths[:trusted], dtype=np.int64)
    crcs = _crc32c_ranges(buf, starts[:trusted] + _HEADER.size, lengths)
    data_ok = _mask(crcs) == np.array(frames.data_crcs[:trusted], dtype=np.uint32)
    if not data_ok.all():
        return int(np.argmin(data_ok)), _BAD_DATA_CRC
    if trusted < len(starts):
        return trusted, _BAD_LENGTH_CRC
    return None


def _record_error(path: Path, number: int, offset: int, problem: str) -> DataError:
    problem = " ".join(problem.split())  # the message must stay on one line
    return DataError(f"{path}: record {number} at byte {offset}: {problem}; {_REDOWNLOAD}")


def _check_pending_frame(path: Path, buf: bytes, number: int, offset: int, file_size: int) -> None:
    """Fail early on a bad or overlong header rather than buffering the rest of the file for it."""
    if len(buf) < _HEADER.size:
        return
    length, length_crc = _HEADER.unpack_from(buf)
    if _mask(crc32c(buf[:8])) != length_crc:
        raise _record_error(path, number, offset, _BAD_LENGTH_CRC)
    remaining = file_size - offset - _HEADER.size
    if length + _FOOTER.size > remaining:
        problem = f"the file is truncated: the record needs {length + _FOOTER.size} more bytes, {remaining} remain"
        raise _record_error(path, number, offset, problem)


def _records(path: Path, progress: Callable[[int, int], None] | None) -> Iterator[tuple[int, int, bytes]]:
    """Yield (record number, byte offset, data) for every record, after checking both CRCs of its frame."""
    file_size = path.stat().st_size
    if file_size == 0:
        raise DataError(f"{path} is empty (an interrupted download?); {_REDOWNLOAD}")
    number, base, buf = 0, 0, b""  # base: file offset of buf[0]
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            buf += chunk
            frames = _scan_frames(buf)
            bad = _first_bad_frame(buf, frames)
            if bad is not None:
                index, problem = bad
                raise _record_error(path, number + index, base + frames.starts[index], problem)
            pending = number + len(frames.starts)
            _check_pending_frame(path, buf[frames.end :], pending, base + frames.end, file_size)
            for start, length in zip(frames.starts, frames.lengths, strict=True):
                if progress is not None and number % _PROGRESS_EVERY == 0:
                    progress(base + start, file_size)
                yield number, base + start, buf[start + _HEADER.size : start + _HEADER.size + length]
                number += 1
            buf = buf[frames.end :]
            base += frames.end
    if buf:
        problem = f"the file is truncated inside a record header ({len(buf)} of {_HEADER.size} bytes)"
        raise _record_error(path, number, base, problem)
    if progress is not None:
        progress(file_size, file_size)


# --------------------------------------------------------------------------------------------------------
# Protobuf wire format, just enough for ModelMetrics / EvaluationData.

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode the base-128 varint at pos: (value, position after it)."""
    value = shift = 0
    while shift < 70:
        try:
            byte = buf[pos]
        except IndexError:
            raise _Malformed("bad metrics protobuf: a varint runs past the end of its message") from None
        value |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7
    raise _Malformed("bad metrics protobuf: a varint is longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | float | bytes]]:
    """Yield (field number, wire type, value) for every field of a serialized message.

    Values are ints for varints, floats for fixed-width fields (NB101's protos use them only for
    doubles) and bytes for length-delimited fields. Callers skip field numbers they do not know.
    """
    pos, size = 0, len(buf)
    while pos < size:
        key = buf[pos]
        if key < 0x80:  # one-byte keys are the norm: skip the general decoder's call
            pos += 1
        else:
            key, pos = _read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _Malformed("bad metrics protobuf: a field has number 0")
        value: int | float | bytes
        if wire_type == _VARINT:
            value, end = _read_varint(buf, pos)
        elif wire_type == _LENGTH_DELIMITED:
            length, pos = _read_varint(buf, pos)
            end = pos + length
            value = buf[pos:end]
        elif wire_type == _FIXED64:
            end = pos + _DOUBLE.size
            value = _DOUBLE.unpack_from(buf, pos)[0] if end <= size else 0.0
        elif wire_type == _FIXED32:
            end = pos + _FLOAT.size
            value = _FLOAT.unpack_from(buf, pos)[0] if end <= size else 0.0
        else:
            raise _Malformed(f"bad metrics protobuf: field {number} has unsupported wire type {wire_type}")
        if end > size:
            raise _Malformed(f"bad metrics protobuf: field {number} runs past the end of its message")
        pos = end
        yield number, wire_type, value


def _wire_type_error(message: str, number: int, wire_type: int, expected: int) -> _Malformed:
    return _Malformed(f"bad metrics protobuf: {message}.{number} has wire type {wire_type}, expected {expected}")


class _FinalMetrics(NamedTuple):
    trainable_parameters: int
    training_time: float
    validation_accuracy: float
    test_accuracy: float


def _parse_model_metrics(raw: bytes) -> _FinalMetrics:
    """Decode a ModelMetrics message down to what the table keeps.

    Only the last EvaluationData is decoded: it is the one taken at the end of training (the official
    file has three, at step 0, halfway and the end, and api.py reads its final metrics from the third).
    Absent scalar fields read as 0, as proto2 defaults do in the official reader.
    """
    last_evaluation = None
    trainable_parameters = 0
    for number, wire_type, value in _fields(raw):
        if number == 1:  # repeated EvaluationData evaluation_data
            if wire_type != _LENGTH_DELIMITED:
                raise _wire_type_error("ModelMetrics", number, wire_type, _LENGTH_DELIMITED)
            last_evaluation = value
        elif number == 2:  # int32 trainable_parameters
            if wire_type != _VARINT:
                raise _wire_type_error("ModelMetrics", number, wire_type, _VARINT)
            trainable_parameters = value - (1 << 64) if value >= 1 << 63 else value
    if last_evaluation is None:
        raise _Malformed("bad metrics protobuf: ModelMetrics has no evaluation_data")
    evaluation = {2: 0.0, 4: 0.0, 5: 0.0}  # training_time, validation_accuracy, test_accuracy
    for number, wire_type, value in _fields(last_evaluation):
        if number in evaluation:
            if wire_type != _FIXED64:
                raise _wire_type_error("EvaluationData", number, wire_type, _FIXED64)
            evaluation[number] = value
    return _FinalMetrics(trainable_parameters, evaluation[2], evaluation[4], evaluation[5])


# --------------------------------------------------------------------------------------------------------
# Records to table.


def _parse_num_vertices(raw_adjacency: object) -> int:
    if not isinstance(raw_adjacency, str):
        raise _Malformed(f"the adjacency is a {type(raw_adjacency).__name__}, not a string of 0s and 1s")
    num_vertices = math.isqrt(len(raw_adjacency))
    if num_vertices * num_vertices != len(raw_adjacency) or not 2 <= num_vertices <= MAX_VERTICES:
        size = len(raw_adjacency)
        raise _Malformed(f"an adjacency string of length {size} is not V x V with 2 <= V <= {MAX_VERTICES}")
    if raw_adjacency.replace("0", "").replace("1", ""):
        raise _Malformed("the adjacency string holds characters other than 0 and 1")
    return num_vertices


def _parse_operations(raw_operations: object) -> tuple[int, ...]:
    """Op labels of the vertices in order, padded with ABSENT_LABEL to MAX_VERTICES."""
    if not isinstance(raw_operations, str):
        raise _Malformed(f"the operations are a {type(raw_operations).__name__}, not a comma-separated string")
    names = raw_operations.split(",")
    if len(names) < 2 or names[0] != "input" or names[-1] != "output":
        raise _Malformed(f"operations {raw_operations[:200]!r} do not run from 'input' to 'output'")
    if len(names) > MAX_VERTICES:
        raise _Malformed(f"{len(names)} operations exceed NB101's {MAX_VERTICES} vertices")
    labels = [INPUT_LABEL]
    for name in names[1:-1]:
        if name not in _OP_INDEX:
            raise _Malformed(f"unknown op {name[:50]!r} (NB101 ops are {', '.join(NB101_OPS)})")
        labels.append(_OP_INDEX[name])
    labels.append(OUTPUT_LABEL)
    return tuple(labels) + (ABSENT_LABEL,) * (MAX_VERTICES - len(labels))


class _TableBuilder:
    """Accumulates cells in order of first appearance in compact arrays; `build` sorts them by hash."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}  # module hash -> cell number
        self.adjacency: list[str] = []  # raw V*V strings, unpacked per V in `build`
        self.num_vertices = bytearray()
        self.ops = array("b")  # MAX_VERTICES labels per cell
        self.trainable_parameters = array("q")
        self.values = array("d")  # per cell: training_time, validation_accuracy, test_accuracy x REPEATS
        self.repeats = bytearray()
        self._ops_cache: dict[str, tuple[int, ...]] = {}  # few distinct op strings, ~424k cells

    def add(self, data: bytes) -> None:
        try:
            row = _json_decode(data.decode())
        except ValueError as exc:  # also invalid UTF-8
            raise _Malformed(f"the data is not valid UTF-8 JSON ({exc})") from None
        if not (isinstance(row, list) and len(row) == 5):
            raise _Malformed("the record is not a JSON list [hash, epochs, adjacency, operations, metrics]")
        module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = row
        if not isinstance(epochs, int):
            raise _Malformed(f"the epoch count {epochs!r:.50} is not an integer")
        if epochs != EPOCHS:
            return
        if not isinstance(raw_metrics, str):
            raise _Malformed("the metrics field is not a base64 string")
        try:
            raw = base64.b64decode(raw_metrics, validate=True)
        except ValueError as exc:
            raise _Malformed(f"the metrics field is not valid base64 ({exc})") from None
        metrics = _parse_model_metrics(raw)
        cell = self.index.get(module_hash) if isinstance(module_hash, str) else None
        if cell is None:
            cell = self._add_cell(module_hash, raw_adjacency, raw_operations, metrics.trainable_parameters)
        repeat = self.repeats[cell]
        if repeat == REPEATS:
            raise _Malformed(f"cell {module_hash} has more than {REPEATS} {EPOCHS}-epoch records")
        self.repeats[cell] = repeat + 1
        slot = cell * 3 * REPEATS + repeat
        self.values[slot] = metrics.training_time
        self.values[slot + REPEATS] = metrics.validation_accuracy
        self.values[slot + 2 * REPEATS] = metrics.test_accuracy

    def _add_cell(self, module_hash: object, raw_adjacency: object, raw_operations: object, params: int) -> int:
        """Register a new cell; later repeats reuse its graph, as the official reader does."""
        if not (isinstance(module_hash, str) and _HASH.fullmatch(module_hash)):
            raise _Malformed(f"the module hash {module_hash!r:.50} is not 32 lowercase hex digits")
        num_vertices = _parse_num_vertices(raw_adjacency)
        labels = self._ops_cache.get(raw_operations) if isinstance(raw_operations, str) else None
        if labels is None:
            labels = _parse_operations(raw_operations)
            self._ops_cache[raw_operations] = labels
        num_ops = labels.index(OUTPUT_LABEL) + 1
        if num_ops != num_vertices:
            raise _Malformed(f"{num_ops} operations do not match a {num_vertices}-vertex adjacency matrix")
        cell = len(self.index)
        self.index[module_hash] = cell
        self.adjacency.append(raw_adjacency)
        self.num_vertices.append(num_vertices)
        self.ops.extend(labels)
        self.trainable_parameters.append(params)
        self.values.extend([math.nan] * (3 * REPEATS))
        self.repeats.append(0)
        return cell

    def build(self) -> NB101Table:
        n = len(self.index)
        hashes = np.array(list(self.index), dtype="S32")
        num_vertices = np.frombuffer(self.num_vertices, dtype=np.uint8).copy()
        adj = np.zeros((n, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        for v in np.unique(num_vertices).tolist():
            rows = np.flatnonzero(num_vertices == v)
            text = "".join([self.adjacency[i] for i in rows.tolist()]).encode("ascii")
            adj[rows, :v, :v] = (np.frombuffer(text, dtype=np.uint8) - ord("0")).reshape(len(rows), v, v)
        not_dag = np.flatnonzero(np.tril(adj).any(axis=(1, 2)))
        if len(not_dag):
            cell = hashes[not_dag[0]].decode()
            raise _Malformed(f"cell {cell} has an edge on or below the diagonal (NB101 cells are upper-triangular)")
        values = np.frombuffer(self.values, dtype=np.float64).reshape(n, 3, REPEATS)
        order = np.argsort(hashes, kind="stable")
        metrics = {
            "training_time": values[:, 0],
            "validation_accuracy": values[:, 1],
            "test_accuracy": values[:, 2],
            "trainable_parameters": np.frombuffer(self.trainable_parameters, dtype=np.int64),
        }
        return NB101Table(
            hashes=hashes[order],
            adj=adj[order],
            ops=np.frombuffer(self.ops, dtype=np.int8).reshape(n, MAX_VERTICES)[order],
            num_vertices=num_vertices[order],
            metrics={
                name: column[order].astype(np.float64 if name == "trainable_parameters" else np.float32)
                for name, column in metrics.items()
            },
        )


def read_nb101_tfrecord(path: Path, progress: Callable[[int, int], None] | None = None) -> NB101Table:
    """Read the official NB101 file (`nasbench_only108.tfrecord`; the full file works too) into a table.

    Only 108-epoch records are kept. Metric arrays have one column per repeat, in file order; a cell with
    fewer than 3 repeats has NaN in the missing columns, so means must be NaN-aware. Hashes are trusted,
    not recomputed: the official matrices are already pruned. `progress(bytes_read, total_bytes)` is
    called every few thousand records. Any unreadable byte raises a one-line `DataError`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist; download nasbench_only108.tfrecord and pass its path")
    if not path.is_file():
        raise DataError(f"{path} is not a file; pass the path of nasbench_only108.tfrecord")
    builder = _TableBuilder()
    try:
        for number, offset, data in _records(path, progress):
            try:
                builder.add(data)
            except ValueError as exc:  # _Malformed, and JSON, UTF-8 and base64 errors are all ValueErrors
                raise _record_error(path, number, offset, str(exc) or type(exc).__name__) from None
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc}); check its permissions or {_REDOWNLOAD}") from None
    if not builder.index:
        raise DataError(
            f"{path} holds no {EPOCHS}-epoch records, so it is not nasbench_only108.tfrecord; {_REDOWNLOAD}"
        )
    try:
        return builder.build()
    except _Malformed as exc:
        raise DataError(f"{path}: {exc}; {_REDOWNLOAD}") from None
