"""`csv:PATH --space NAME`: a user's own table, written here from the real NB201 and NB101 data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from rlnas.benchmarks import check_benchmark, load_benchmark
from rlnas.errors import DataError, RlnasError
from rlnas.spaces import NB101_SPACE, NB201_SPACE
from tests.test_cells import relabel


def write_table(path, header, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def nb201_rows(nb201):
    """60 real NB201-cifar10 rows: the official arch string, validation accuracy, training time."""
    rng = np.random.default_rng(0)
    rows, seen = [], set()
    while len(rows) < 60:
        result = nb201.evaluate(NB201_SPACE.sample(rng))
        if result.hash not in seen:
            seen.add(result.hash)
            rows.append([NB201_SPACE.to_text(result.cell), result.score, result.metrics["training_time"]])
    return rows


def test_a_table_saved_with_a_byte_order_mark_reads_the_same(tmp_path, nb201_rows):
    plain = write_table(tmp_path / "plain.csv", ["arch", "val_acc", "train_seconds"], nb201_rows)
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())  # as spreadsheets save UTF-8
    bench = load_benchmark(f"csv:{marked}", space="nb201")
    assert bench.metric == "val_acc" and np.array_equal(bench.all_scores(), [row[1] for row in nb201_rows])


def test_a_table_of_nb201_archs_answers_as_the_table_says(tmp_path, nb201, nb201_rows):
    path = write_table(tmp_path / "mine.csv", ["arch", "val_acc", "train_seconds"], nb201_rows)
    bench = load_benchmark(f"csv:{path}", space="nb201")
    assert bench.name == f"csv:{path}" and bench.metric == "val_acc" and bench.space is NB201_SPACE
    assert bench.best_possible == max(row[1] for row in nb201_rows)
    assert np.array_equal(bench.all_scores(), [row[1] for row in nb201_rows])
    for arch, score, seconds in nb201_rows:
        result = bench.evaluate(NB201_SPACE.from_text(arch))
        assert result.score == score == nb201.evaluate(result.cell).score
        assert result.metrics == {"val_acc": score, "train_seconds": seconds}
    assert bench.cost_metric == "train_seconds"  # so --budget-seconds spends training time
    session = bench.session(budget=10)
    first = session.query(NB201_SPACE.from_text(nb201_rows[0][0]))
    assert session.query(relabel(first.cell, np.random.default_rng(1))) is first  # revisits are free


def test_the_arch_rlnas_query_prints_is_the_arch_a_table_takes(tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "rlnas", "query", "-b", "nb201-cifar10", "--arch", "123040"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(printed.stdout)
    path = write_table(tmp_path / "one.csv", ["arch", "acc"], [[report["arch"], 0.5]])
    assert report["arch"] == "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|none~2|"
    assert load_benchmark(f"csv:{path}", space="nb201").evaluate(NB201_SPACE.from_text("123040")).score == 0.5


def test_a_table_of_nb101_cells_is_looked_up_up_to_isomorphism(tmp_path, nb101):
    rng = np.random.default_rng(0)
    cells = [NB101_SPACE.sample(rng) for _ in range(30)]
    rows = [[NB101_SPACE.to_text(cell), nb101.evaluate(cell).score] for cell in cells]
    path = write_table(tmp_path / "nb101.csv", ["arch", "test_accuracy"], rows)
    bench = load_benchmark(f"csv:{path}", space=NB101_SPACE)
    for cell in cells:
        twin = relabel(cell, rng)
        assert bench.evaluate(twin).score == nb101.evaluate(cell).score
        assert bench.evaluate(twin).hash == nb101.evaluate(cell).hash  # the NB101 module hash


def test_a_cell_missing_from_the_table_is_a_one_line_error(tmp_path, nb201_rows):
    path = write_table(tmp_path / "t.csv", ["arch", "acc", "seconds"], nb201_rows)
    bench = load_benchmark(f"csv:{path}", space="nb201")
    listed = {row[0] for row in nb201_rows}
    missing = next(
        cell for cell in map(NB201_SPACE.from_text, ["000000", "444444"]) if NB201_SPACE.to_text(cell) not in listed
    )
    with pytest.raises(DataError, match=r"is not in .*t\.csv \(60 rows\)") as error:
        bench.evaluate(missing)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("header", "rows", "words"),
    [
        (["cell", "acc"], [["123040", "0.5"]], ["header must be arch,<metric>"]),
        (["arch"], [["123040"]], ["header must be arch,<metric>"]),
        (["arch", "acc", "acc"], [["123040", "0.5", "0.5"]], ["names a column twice"]),
        (["arch", "acc"], [], ["no rows"]),
        (["arch", "acc"], [["123040", "0.5"], ["123041", "0.5", "7"]], ["line 3", "3 fields where the header has 2"]),
        (["arch", "acc"], [["123040", "0.5"], ["|bogus~0|", "0.5"]], ["line 3", "outside the nb201 space"]),
        (["arch", "acc"], [["123040", "0.5"], ["123049", "0.5"]], ["line 3", "outside the nb201 space"]),
        (["arch", "acc"], [["123040", "high"]], ["line 2", "acc is 'high', not a finite number"]),
        (["arch", "acc", "t"], [["123040", "0.5", "nan"]], ["line 2", "t is 'nan'"]),
        (["arch", "acc"], [["123040", "0.5"], ["000000", "0.1"], ["123040", "0.7"]], ["line 4", "as line 2"]),
    ],
)
def test_bad_tables_are_one_line_errors_naming_the_line(tmp_path, header, rows, words):
    path = write_table(tmp_path / "bad.csv", header, rows)
    with pytest.raises(DataError) as error:
        load_benchmark(f"csv:{path}", space="nb201")
    message = str(error.value)
    assert "\n" not in message and all(word in message for word in words), message


def test_nb101_rows_outside_the_space_and_isomorphic_duplicates(tmp_path):
    chain = {
        "matrix": [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        "ops": ["input", "maxpool3x3", "conv3x3-bn-relu", "output"],
    }
    diamond = {
        "matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
        "ops": ["input", "maxpool3x3", "conv3x3-bn-relu", "output"],
    }
    swapped = {**diamond, "ops": ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]}
    path = write_table(
        tmp_path / "iso.csv",
        ["arch", "acc"],
        [[json.dumps(chain), 0.9], [json.dumps(diamond), 0.8], [json.dumps(swapped), 0.7]],
    )
    with pytest.raises(DataError, match="line 4: the same architecture as line 3"):
        load_benchmark(f"csv:{path}", space="nb101")
    conv7 = {**chain, "ops": ["input", "conv7x7", "conv3x3-bn-relu", "output"]}
    path = write_table(tmp_path / "op.csv", ["arch", "acc"], [[json.dumps(chain), 0.9], [json.dumps(conv7), 0.8]])
    with pytest.raises(DataError, match="line 3: the arch is outside the nb101 space: unknown op 'conv7x7'"):
        load_benchmark(f"csv:{path}", space="nb101")


def test_missing_file_and_missing_space_are_caught_before_loading(tmp_path):
    with pytest.raises(DataError, match="does not exist; give csv:PATH"):
        check_benchmark(f"csv:{tmp_path / 'nowhere.csv'}", space="nb201")
    path = write_table(tmp_path / "t.csv", ["arch", "acc"], [["123040", "0.5"], ["not an arch", "0.1"]])
    with pytest.raises(RlnasError, match="needs the space of its archs: add --space NAME"):
        check_benchmark(f"csv:{path}")
    with pytest.raises(RlnasError, match="unknown space 'nb301'; choose one of nb101, nb201"):
        check_benchmark(f"csv:{path}", space="nb301")
    check_benchmark(f"csv:{path}", space="nb201")  # the header is all a check reads: the rows wait for loading
    with pytest.raises(DataError, match="line 3"):
        load_benchmark(f"csv:{path}", space="nb201")


def test_the_reward_plots_take_a_table_and_its_space(tmp_path, nb201_rows):
    path = write_table(tmp_path / "mine.csv", ["arch", "val_acc"], [row[:2] for row in nb201_rows])
    for command in ("rewards", "shaping"):
        image = tmp_path / f"{command}.png"
        args = ["plot", command, "-b", f"csv:{path}", "--space", "nb201", "--out", str(image)]
        done = subprocess.run([sys.executable, "-m", "rlnas", *args], capture_output=True, text=True)
        assert done.returncode == 0 and image.is_file(), done.stderr
