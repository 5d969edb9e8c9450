"""Matrix rows from a catalog file: CSV with a header, or JSON Lines. Pure.

``matrix: {rows: products.csv}`` makes each row one set of matrix values,
crossed with the matrix's other axes and subject to its ``include`` and
``exclude`` (see ``seedrun.matrix``). Each column is a template variable; a cell
may name a local image (``file: "{{ image }}"``).

- A CSV's first line is its header; every row must have one cell per column.
  Cells are strings. A JSON Lines row is an object of scalars; blank lines are
  skipped. Every row of one file has the same columns.
- Columns are template variables only: a column named like a request parameter
  (``ratio``...) is refused, since the schema could not check its cells; make
  that an axis of the matrix instead.
- Rows are matrix values, so a job id names its row's values, not its line:
  ids and keys are the same whichever order the rows are in.

Problems name the data file and its line: ``products.csv:4: ...``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from seedrun.localrefs import Table

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Rows:
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    lines: tuple[int, ...] = ()  # the line each row starts on

    def line_of(self, combo: dict[str, Any]) -> int | None:
        """The line of the row a combination was made from."""
        return self._lines.get(tuple(combo.get(c) for c in self.columns))

    @cached_property
    def _lines(self) -> dict[tuple[Any, ...], int]:
        out: dict[tuple[Any, ...], int] = {}
        for row, line in zip(self.rows, self.lines, strict=True):
            out.setdefault(tuple(row[c] for c in self.columns), line)
        return out


class CatalogError(ValueError):
    """A problem in a catalog file, worded with its file and line."""


def parse_rows(table: Table, reserved: frozenset[str]) -> Rows:
    """The rows of ``table``; raises CatalogError naming the file and line."""
    if table.written.lower().endswith(".csv"):
        return _csv(table, reserved)
    return _jsonl(table, reserved)


def _columns(names: list[str], where: str, reserved: frozenset[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    for name in names:
        if not _NAME.match(name):
            raise CatalogError(
                f"{where}: column {name!r} is not a template variable name "
                "(letters, digits and _, not starting with a digit)"
            )
        if name in reserved:
            raise CatalogError(
                f"{where}: column {name!r} is a request parameter or a reserved name; "
                "catalog columns are template variables: make it an axis of the matrix"
            )
        if name in seen:
            raise CatalogError(f"{where}: column {name!r} appears twice")
        seen.add(name)
    if not names:
        raise CatalogError(f"{where}: no columns")
    return tuple(names)


def _csv(table: Table, reserved: frozenset[str]) -> Rows:
    reader = csv.reader(io.StringIO(table.text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CatalogError(f"{table.written}:1: the file is empty; it needs a header line")
        columns = _columns([h.strip() for h in header], f"{table.written}:1", reserved)
        rows: list[dict[str, Any]] = []
        lines: list[int] = []
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                missing = columns[len(cells) :]
                what = (
                    f"no {', '.join(missing)} cell" + ("s" if len(missing) > 1 else "")
                    if len(cells) < len(columns)
                    else f"{len(cells) - len(columns)} cell(s) more than the header"
                )
                raise CatalogError(
                    f"{table.written}:{start}: row has {len(cells)} cells and the header "
                    f"{len(columns)} ({', '.join(columns)}): {what}"
                )
            rows.append(dict(zip(columns, cells, strict=True)))
            lines.append(start)
    except csv.Error as exc:
        raise CatalogError(f"{table.written}:{reader.line_num}: not valid CSV: {exc}") from None
    if not rows:
        raise CatalogError(f"{table.written}: the file has a header and no rows")
    return Rows(columns, tuple(rows), tuple(lines))


def _jsonl(table: Table, reserved: frozenset[str]) -> Rows:
    columns: tuple[str, ...] | None = None
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, text in enumerate(table.text.splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{table.written}:{number}"
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{where}: not a JSON object: {exc.msg}") from None
        if not isinstance(row, dict):
            raise CatalogError(f"{where}: a row must be a JSON object")
        for key, value in row.items():
            if value is None or not isinstance(value, _SCALARS):
                raise CatalogError(f"{where}: {key}: a cell must be a string, number or boolean")
        if columns is None:
            columns = _columns(list(row), where, reserved)
        elif set(row) != set(columns):
            missing = [c for c in columns if c not in row]
            extra = [c for c in row if c not in columns]
            what = "; ".join(
                part
                for part in (
                    f"no {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(extra)}" if extra else "",
                )
                if part
            )
            raise CatalogError(
                f"{where}: the row's columns differ from the first row's "
                f"({', '.join(columns)}): {what}"
            )
        rows.append(row)
        lines.append(number)
    if columns is None:
        raise CatalogError(f"{table.written}: the file has no rows")
    return Rows(columns, tuple(rows), tuple(lines))
