"""The TensorFlow-free NB101 converter, on small files written here in the official format."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from rlnas.benchmarks import nb101_tfrecord
from rlnas.benchmarks.nb101_table import NB101Table
from rlnas.benchmarks.nb101_tfrecord import (
    _crc32c_python,
    _crc32c_ranges,
    _fields,
    _parse_model_metrics,
    crc32c,
    read_nb101_tfrecord,
)
from rlnas.errors import DataError

# --------------------------------------------------------------------------------------------------------
# Writing the official format by hand: protobuf wire format, JSON rows, TFRecord frames.


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32s are sign-extended to 64 bits on the wire
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _varint_field(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _double_field(number: int, value: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", value)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _fixed32_field(number: int, value: int) -> bytes:
    return _key(number, 5) + struct.pack("<I", value)


def encode_evaluation(epoch: float, time: float, train: float, val: float, test: float, ckpt: str = "") -> bytes:
    """EvaluationData fields: current_epoch=1, training_time=2, train/val/test accuracy=3/4/5, ckpt=6."""
    fields = [_double_field(n, x) for n, x in enumerate((epoch, time, train, val, test), start=1)]
    return b"".join(fields) + _bytes_field(6, ckpt.encode())


def encode_model_metrics(evaluations: list[bytes], params: int, total_time: float, extra: bytes = b"") -> bytes:
    """ModelMetrics: evaluation_data=1 (repeated), trainable_parameters=2, total_time=3."""
    body = b"".join(_bytes_field(1, evaluation) for evaluation in evaluations)
    return body + _varint_field(2, params) + _double_field(3, total_time) + extra


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_nb101_tfrecord(path: Path, records: Iterable[list | bytes]) -> list[int]:
    """Write rows (JSON-encoded) or raw record data in TFRecord frames; return each record's offset."""
    offsets, out = [], bytearray()
    for record in records:
        data = record if isinstance(record, bytes) else json.dumps(record).encode()
        header = struct.pack("<Q", len(data))
        offsets.append(len(out))
        out += header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))
    path.write_bytes(bytes(out))
    return offsets


# --------------------------------------------------------------------------------------------------------
# A small dataset: three cells with V = 7, 5 and 2, three repeats each, interleaved and out of hash order.

CELLS = [
    {
        "hash": hashlib.md5(b"inception").hexdigest(),
        "matrix": [
            [0, 1, 1, 1, 0, 1, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        "ops": [
            "input",
            "conv1x1-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "maxpool3x3",
            "output",
        ],
        "labels": [-1, 1, 0, 0, 0, 2, -2],
    },
    {
        "hash": hashlib.md5(b"chain").hexdigest(),
        "matrix": [
            [0, 1, 0, 0, 1],
            [0, 0, 1, 0, 0],
            [0, 0, 0, 1, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0],
        ],
        "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"],
        "labels": [-1, 0, 2, 1, -2, -3, -3],
    },
    {
        "hash": hashlib.md5(b"skip").hexdigest(),
        "matrix": [[0, 1], [0, 0]],
        "ops": ["input", "output"],
        "labels": [-1, -2, -3, -3, -3, -3, -3],
    },
]


def _final(cell: int, repeat: int) -> tuple[float, float, float, int]:
    """(training_time, validation_accuracy, test_accuracy, trainable_parameters) of one training."""
    return (
        1000.0 + 10 * cell + repeat,
        0.9 + 0.01 * cell + 0.001 * repeat,
        0.8 + 0.01 * cell + 0.002 * repeat,
        5000 + cell,
    )


def _row(cell: int, repeat: int, epochs: int = 108, extra: bytes = b"") -> list:
    spec = CELLS[cell]
    time, val, test, params = _final(cell, repeat)
    evaluations = [
        encode_evaluation(0.0, 0.0, 0.1, 0.1, 0.1),
        encode_evaluation(epochs / 2, time / 2, 0.5, 0.5, 0.5, "/ckpt/model.ckpt-half"),
        encode_evaluation(epochs, time, 1.0, val, test, "/ckpt/model.ckpt-final"),
    ]
    if epochs != 108:  # make a wrongly kept record visible in the metrics
        evaluations[-1] = encode_evaluation(epochs, 1.0, 0.0, 0.0, 0.0)
    raw_metrics = encode_model_metrics(evaluations, params, time + 60.0, extra)
    adjacency = "".join(str(x) for row in spec["matrix"] for x in row)
    return [spec["hash"], epochs, adjacency, ",".join(spec["ops"]), base64.b64encode(raw_metrics).decode()]


def _dataset_rows() -> list[list]:
    rows = [_row(cell, repeat) for repeat in range(3) for cell in range(3)]
    rows.insert(4, _row(0, 0, epochs=36))  # another epoch count of a kept cell: ignored, not a 4th repeat
    other = _row(1, 0, epochs=12)
    other[0] = hashlib.md5(b"only at 12 epochs").hexdigest()
    rows.insert(2, other)  # a cell with no 108-epoch record: absent from the table
    return rows


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "nasbench_only108.tfrecord"
    write_nb101_tfrecord(path, _dataset_rows())
    return path


def _check_error(exc_info: pytest.ExceptionInfo[DataError], *words: str) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    return message


# --------------------------------------------------------------------------------------------------------
# CRC-32C and the protobuf decoder.

CRC32C_VECTORS = [  # RFC 3720 B.4 and the usual check value
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.mark.parametrize(("data", "expected"), CRC32C_VECTORS)
def test_crc32c_known_vectors(data: bytes, expected: int) -> None:
    assert _crc32c_python(data) == expected
    assert crc32c(data) == expected


def test_crc32c_ranges_match_scalar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nb101_tfrecord, "_native_crc32c", None)  # exercise the numpy path
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    lengths = np.array([0, 1, 8, 8, 300, 417, 5000, 12, 0, 4096, 4097], dtype=np.int64)
    starts = rng.integers(0, len(buf) - lengths.max(), len(lengths)).astype(np.int64)
    expected = [_crc32c_python(buf[s : s + n]) for s, n in zip(starts, lengths, strict=True)]
    assert _crc32c_ranges(buf, starts, lengths).tolist() == expected
    vector_buf = b"".join(data for data, _ in CRC32C_VECTORS)
    vector_starts = np.cumsum([0] + [len(data) for data, _ in CRC32C_VECTORS[:-1]])
    vector_lengths = np.array([len(data) for data, _ in CRC32C_VECTORS])
    assert _crc32c_ranges(vector_buf, vector_starts, vector_lengths).tolist() == [c for _, c in CRC32C_VECTORS]


def test_protobuf_decoder_keeps_last_evaluation_and_skips_unknown_fields() -> None:
    unknown = (
        _varint_field(9, 300)  # multi-byte varint
        + _fixed32_field(10, 0xDEADBEEF)
        + _double_field(11, 2.5)
        + _bytes_field(12, b"\x08\x01 nested junk")
    )
    evaluations = [
        encode_evaluation(0, 0.0, 0.1, 0.11, 0.12),
        encode_evaluation(54, 500.0, 0.6, 0.61, 0.62) + unknown,
        _fixed32_field(7, 1) + encode_evaluation(108, 1234.5, 1.0, 0.9375, 0.921875, "x" * 200) + unknown,
    ]
    raw = unknown + encode_model_metrics(evaluations, 2_694_282, 1500.0, extra=unknown)
    metrics = _parse_model_metrics(raw)
    assert metrics == (2_694_282, 1234.5, 0.9375, 0.921875)
    numbers = [number for number, _, _ in _fields(raw)]
    assert numbers == [9, 10, 11, 12, 1, 1, 1, 2, 3, 9, 10, 11, 12]
    assert list(_fields(_varint_field(9, 300) + _double_field(11, 2.5) + _bytes_field(12, b"ab"))) == [
        (9, 0, 300),
        (11, 1, 2.5),
        (12, 2, b"ab"),
    ]


def test_protobuf_decoder_negative_int32_and_defaults() -> None:
    raw = _bytes_field(1, _double_field(5, 0.5)) + _varint_field(2, -7)
    assert _parse_model_metrics(raw) == (-7, 0.0, 0.0, 0.5)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\x10\x80", "varint"),  # truncated varint
        (b"\x10" + b"\xff" * 11, "longer than 10 bytes"),
        (_key(1, 2) + _varint(5) + b"ab", "past the end"),
        (_key(1, 1) + b"\x00\x00", "past the end"),  # truncated double
        (_key(1, 3), "wire type 3"),  # groups are not used by NB101
        (_key(0, 0) + b"\x01", "number 0"),
        (_varint_field(1, 1), "wire type 0"),  # evaluation_data must be a submessage
        (_bytes_field(1, _varint_field(4, 1)), "EvaluationData.4"),
        (_varint_field(2, 5), "no evaluation_data"),
    ],
)
def test_protobuf_decoder_rejects_malformed(raw: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        _parse_model_metrics(raw)


# --------------------------------------------------------------------------------------------------------
# Conversion.


def test_convert_official_format(dataset: Path) -> None:
    calls: list[tuple[int, int]] = []
    table = read_nb101_tfrecord(dataset, progress=lambda done, total: calls.append((done, total)))

    order = sorted(range(len(CELLS)), key=lambda cell: CELLS[cell]["hash"])
    assert order != [0, 1, 2], "the file order must differ from hash order for this test to mean anything"
    assert len(table) == 3
    assert table.hashes.dtype == np.dtype("S32")
    assert table.hashes.tolist() == [CELLS[cell]["hash"].encode() for cell in order]
    assert table.adj.dtype == np.uint8 and table.adj.shape == (3, 7, 7)
    assert table.ops.dtype == np.int8 and table.ops.shape == (3, 7)
    assert table.num_vertices.dtype == np.uint8
    assert sorted(table.metrics) == [
        "test_accuracy",
        "trainable_parameters",
        "training_time",
        "validation_accuracy",
    ]
    for name in ("training_time", "validation_accuracy", "test_accuracy"):
        assert table.metrics[name].dtype == np.float32 and table.metrics[name].shape == (3, 3)
    assert table.metrics["trainable_parameters"].dtype == np.float64
    assert table.metrics["trainable_parameters"].shape == (3,)

    for row, cell in enumerate(order):
        spec = CELLS[cell]
        v = len(spec["ops"])
        assert table.num_vertices[row] == v
        expected_adj = np.zeros((7, 7), dtype=np.uint8)
        expected_adj[:v, :v] = spec["matrix"]
        np.testing.assert_array_equal(table.adj[row], expected_adj)
        assert table.ops[row].tolist() == spec["labels"]
        finals = [_final(cell, repeat) for repeat in range(3)]
        for column, name in enumerate(("training_time", "validation_accuracy", "test_accuracy")):
            expected = np.array([final[column] for final in finals], dtype=np.float32)
            np.testing.assert_array_equal(table.metrics[name][row], expected)
        assert table.metrics["trainable_parameters"][row] == finals[0][3]

    size = dataset.stat().st_size
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert all(total == size for _, total in calls)

    cache = dataset.with_suffix(".npz")
    table.save(cache)
    loaded = NB101Table.load(cache)
    np.testing.assert_array_equal(loaded.hashes, table.hashes)
    np.testing.assert_array_equal(loaded.adj, table.adj)
    np.testing.assert_array_equal(loaded.metrics["test_accuracy"], table.metrics["test_accuracy"])


@pytest.mark.parametrize("chunk_bytes", [7, 13, 64, 1000])
def test_records_straddling_read_chunks(dataset: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int) -> None:
    expected = read_nb101_tfrecord(dataset)
    monkeypatch.setattr(nb101_tfrecord, "_CHUNK_BYTES", chunk_bytes)
    table = read_nb101_tfrecord(dataset)
    np.testing.assert_array_equal(table.hashes, expected.hashes)
    np.testing.assert_array_equal(table.adj, expected.adj)
    for name, values in expected.metrics.items():
        np.testing.assert_array_equal(table.metrics[name], values)


def test_native_crc32c_path(tmp_path: Path, dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch taken when a C CRC-32C library is installed, with the Python one standing in for it."""
    expected = read_nb101_tfrecord(dataset)
    monkeypatch.setattr(nb101_tfrecord, "_native_crc32c", _crc32c_python)
    np.testing.assert_array_equal(
        read_nb101_tfrecord(dataset).metrics["test_accuracy"], expected.metrics["test_accuracy"]
    )
    data = bytearray(dataset.read_bytes())
    data[len(data) // 2] ^= 0x01
    corrupt = tmp_path / "corrupt.tfrecord"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(corrupt)
    _check_error(exc_info, str(corrupt), "CRC-32C", "corrupt")


def test_missing_repeats_are_nan(tmp_path: Path) -> None:
    path = tmp_path / "partial.tfrecord"
    write_nb101_tfrecord(path, [_row(0, 0), _row(1, 0), _row(0, 1)])
    table = read_nb101_tfrecord(path)
    row = table.hashes.tolist().index(CELLS[0]["hash"].encode())
    accuracy = table.metrics["validation_accuracy"][row]
    assert accuracy[:2].tolist() == pytest.approx([_final(0, 0)[1], _final(0, 1)[1]])
    assert np.isnan(accuracy[2])
    assert np.isnan(table.metrics["test_accuracy"][1 - row, 1:]).all()
    assert not np.isnan(table.metrics["trainable_parameters"]).any()


# --------------------------------------------------------------------------------------------------------
# Errors: each a DataError with one line naming the file, the place and the problem.


@pytest.mark.parametrize("chunk_bytes", [None, 7])
@pytest.mark.parametrize(
    ("cut", "words"),
    [
        (lambda offsets, size: size - 10, ("record 9", "truncated")),  # mid-data of the last record
        (lambda offsets, size: size - 2, ("record 9", "truncated")),  # mid-footer
        (lambda offsets, size: offsets[4] + 5, ("record 4", "truncated inside a record header")),
        (lambda offsets, size: offsets[4] + 12, ("record 4", "truncated")),  # header only
    ],
)
def test_truncated_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes, cut, words) -> None:
    if chunk_bytes is not None:
        monkeypatch.setattr(nb101_tfrecord, "_CHUNK_BYTES", chunk_bytes)
    path = tmp_path / "cut.tfrecord"
    rows = [_row(cell, repeat) for repeat in range(3) for cell in range(3)] + [_row(0, 0, epochs=4)]
    offsets = write_nb101_tfrecord(path, rows)
    data = path.read_bytes()
    path.write_bytes(data[: cut(offsets, len(data))])
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), *words, "re-download")


@pytest.mark.parametrize("chunk_bytes", [None, 7])
@pytest.mark.parametrize(
    ("where", "words"),
    [
        (lambda offset, length: offset + 12 + length // 2, "data fails its CRC-32C"),  # a data byte
        (lambda offset, length: offset + 12 + length + 1, "data fails its CRC-32C"),  # the stored data CRC
        (lambda offset, length: offset + 1, "length field fails its CRC-32C"),  # the length itself
        (lambda offset, length: offset + 9, "length field fails its CRC-32C"),  # the stored length CRC
    ],
)
def test_corrupted_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes, where, words) -> None:
    if chunk_bytes is not None:
        monkeypatch.setattr(nb101_tfrecord, "_CHUNK_BYTES", chunk_bytes)
    path = tmp_path / "corrupt.tfrecord"
    offsets = write_nb101_tfrecord(path, [_row(cell, repeat) for repeat in range(3) for cell in range(3)])
    data = bytearray(path.read_bytes())
    length = offsets[3] - offsets[2] - 16
    data[where(offsets[2], length)] ^= 0x04
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), f"record 2 at byte {offsets[2]}", words, "corrupt", "re-download")


def _bad_row(index: int, value: object) -> list:
    row = _row(0, 0)
    row[index] = value
    return row


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (b'["abc", 108, ', "not valid UTF-8 JSON"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8 JSON"),
        (b'{"hash": 1}', "not a JSON list"),
        (_bad_row(1, "108"), "epoch count"),
        (_bad_row(0, "not-a-hash"), "module hash"),
        (_bad_row(2, "010"), "adjacency string of length 3"),
        (_bad_row(2, "0" * 64), "adjacency string of length 64"),
        (_bad_row(2, "0" * 48 + "2"), "other than 0 and 1"),
        (_bad_row(3, "input,conv5x5-bn-relu,output"), "unknown op 'conv5x5-bn-relu'"),
        (_bad_row(3, "conv3x3-bn-relu,output"), "from 'input' to 'output'"),
        (_bad_row(3, "input,output"), "2 operations do not match a 7-vertex"),
        (_bad_row(4, "not base64!"), "not valid base64"),
        (_bad_row(4, base64.b64encode(b"\x0a\x09short").decode()), "bad metrics protobuf"),
        (_bad_row(4, 12), "not a base64 string"),
    ],
)
def test_bad_record_in_valid_frame(tmp_path: Path, record: list | bytes, words: str) -> None:
    path = tmp_path / "bad.tfrecord"
    offsets = write_nb101_tfrecord(path, [_row(1, 0), _row(2, 0), record, _row(1, 1)])
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), f"record 2 at byte {offsets[2]}", words, "re-download")


def test_too_many_repeats(tmp_path: Path) -> None:
    path = tmp_path / "repeats.tfrecord"
    write_nb101_tfrecord(path, [_row(0, repeat % 3) for repeat in range(4)])
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, "record 3", "more than 3")


def test_matrix_with_lower_triangle_edge(tmp_path: Path) -> None:
    path = tmp_path / "cyclic.tfrecord"
    write_nb101_tfrecord(path, [_bad_row(2, "0" * 7 + "1" + "0" * 41)])
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), CELLS[0]["hash"], "below the diagonal")


def test_no_108_epoch_records(tmp_path: Path) -> None:
    path = tmp_path / "short.tfrecord"
    write_nb101_tfrecord(path, [_row(0, 0, epochs=4), _row(1, 0, epochs=12)])
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), "no 108-epoch records")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "nasbench_only108.tfrecord"
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), "does not exist")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(tmp_path)
    _check_error(exc_info, str(tmp_path), "not a file")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    with pytest.raises(DataError) as exc_info:
        read_nb101_tfrecord(path)
    _check_error(exc_info, str(path), "empty", "re-download")
