"""A user's own table as a benchmark: `csv:PATH` with `--space NAME`.

The header is `arch,<metric>[,more metrics]`. `arch` is the space's canonical text form
(`space.to_text`, what `rlnas query` prints as `arch`): the official NAS-Bench-201 string for
nb201, `{"matrix": [[...]], "ops": [...]}` for nb101 (quoted, as CSV quotes any field with commas).
The first metric is maximised; the others are reported. The table is taken as all the user has,
so its best row is the best possible score, and a cell missing from it cannot be looked up.
Rows are matched by the space's identity: a row is found under any form of its architecture.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from rlnas.benchmarks.base import Benchmark, Evaluation
from rlnas.cells import Cell
from rlnas.errors import DataError, InvalidCellError
from rlnas.spaces import SearchSpace


def read_header(path: Path) -> list[str]:
    """The metric names of a table, checking that the file exists and its header is `arch,<metric>...` (UTF-8,
    with or without the byte-order mark that spreadsheets write)."""
    if not path.is_file():
        raise DataError(f"{path} does not exist; give csv:PATH with the path of your table")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} ({exc}); it must be a UTF-8 CSV file") from exc
    header = [name.strip() for name in header or []]
    if len(header) < 2 or header[0] != "arch" or not all(header[1:]):
        raise DataError(f"{path}: the header must be arch,<metric>[,more metrics], not {','.join(header)!r}")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: the header names a column twice ({','.join(header)})")
    return header[1:]


#: The metric columns a table's query cost is read from (seconds of training), in NB101's and NB201's name
#: and the plain one: with one of them, `--budget-seconds` spends a budget of training time.
COST_COLUMNS = ("training_time", "train_seconds")


class CSVBenchmark(Benchmark):
    def __init__(self, path: str | Path, space: SearchSpace):
        path = Path(path)
        self.name = f"csv:{path}"
        self.space = space
        names = read_header(path)
        self.metric = names[0]
        self.cost_metric = next((name for name in names[1:] if name in COST_COLUMNS), None)
        cells, values, row_of_key, line_of_row = [], [], {}, []
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                next(reader)
                for fields in reader:
                    line = reader.line_num
                    if not any(field.strip() for field in fields):
                        continue
                    cell, numbers = self._parse_row(path, line, fields, names)
                    key = space.identity(cell)
                    if key in row_of_key:
                        first = line_of_row[row_of_key[key]]
                        raise DataError(f"{path}, line {line}: the same architecture as line {first}; keep one row")
                    row_of_key[key] = len(cells)
                    line_of_row.append(line)
                    cells.append(cell)
                    values.append(numbers)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"cannot read {path} ({exc}); it must be a UTF-8 CSV file") from exc
        if not cells:
            raise DataError(f"{path} has a header but no rows; add one row per architecture")
        self.cells = cells
        self._row_of_key = row_of_key
        self._names = names
        self._values = np.array(values, dtype=np.float64)
        self.best_possible = float(self._values[:, 0].max())

    def _parse_row(self, path: Path, line: int, fields: list[str], names: list[str]) -> tuple[Cell, list[float]]:
        if len(fields) != len(names) + 1:
            raise DataError(f"{path}, line {line}: {len(fields)} fields where the header has {len(names) + 1}")
        try:
            cell = self.space.from_text(fields[0])
        except InvalidCellError as exc:
            raise DataError(f"{path}, line {line}: the arch is outside the {self.space.name} space: {exc}") from exc
        numbers = []
        for name, field in zip(names, fields[1:], strict=True):
            try:
                number = float(field)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise DataError(f"{path}, line {line}: {name} is {field!r}, not a finite number")
            numbers.append(number)
        return cell, numbers

    def lookup(self, pruned: Cell, rng: np.random.Generator | None) -> Evaluation:
        row = self._row_of_key.get(self.space.identity(pruned))
        if row is None:
            raise DataError(
                f"{self.space.to_text(pruned)} is not in {self.name.removeprefix('csv:')} "
                f"({len(self.cells)} rows); a search can only query architectures the table holds"
            )
        metrics = dict(zip(self._names, self._values[row].tolist(), strict=True))
        return Evaluation(self.cells[row], pruned.module_hash(), metrics[self.metric], metrics)

    def all_scores(self) -> np.ndarray:
        return self._values[:, 0]
