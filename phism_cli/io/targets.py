"""Per-field regression targets from a CSV table: one id column, one or more target columns."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phism_cli.errors import PhismError


@dataclass
class TargetTable:
    ids: list[str]  # field ids as written in the CSV (integers without decimals: "12", not "12.0")
    names: list[str]  # target columns
    values: np.ndarray  # (fields, targets) float64

    def lookup(self, field_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows for `field_ids`: (index into field_ids found in the table, their values)."""
        row_of = {fid: i for i, fid in enumerate(self.ids)}
        found = [i for i, fid in enumerate(field_ids) if fid in row_of]
        rows = np.asarray([row_of[field_ids[i]] for i in found], dtype=np.int64)
        return np.asarray(found, dtype=np.int64), self.values[rows]


def normalise_id(value: str) -> str:
    """'12', '12.0' and ' 12 ' are the same field id; other text is kept as it is."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if math.isfinite(number) and number == int(number) else text


def read_targets(path: Path, id_column: str | None = None,
                 target_columns: list[str] | None = None) -> TargetTable:
    """Read the CSV; without `id_column` the first column is the id, without
    `target_columns` every other column is a target."""
    if not path.is_file():
        raise PhismError(f"{path}: no such targets file")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        rows = list(reader)
    if len(header) < 2:
        raise PhismError(f"{path}: a targets CSV needs a header with an id column and at "
                         "least one target column")
    id_column = id_column or header[0]
    names = target_columns or [h for h in header if h != id_column]
    for column in (id_column, *names):
        if column not in header:
            raise PhismError(f"{path}: no column {column!r}; columns are {', '.join(header)}")
    values = np.empty((len(rows), len(names)), dtype=np.float64)
    for r, row in enumerate(rows):
        for t, name in enumerate(names):
            try:
                values[r, t] = float(row[name])
            except (TypeError, ValueError):
                raise PhismError(f"{path}: line {r + 2}, column {name!r}: {row[name]!r} is not "
                                 "a number") from None
    ids = [normalise_id(row[id_column] or "") for row in rows]
    if len(set(ids)) != len(ids):
        raise PhismError(f"{path}: field ids in column {id_column!r} repeat")
    return TargetTable(ids, names, values)
