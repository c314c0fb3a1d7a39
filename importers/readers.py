"""Readers for agency deliveries: CSV, XLSX and JSON, streamed row by row.

- CSV: the encoding is detected in a safe order and recorded on the batch: a UTF-8 or UTF-16
  byte-order mark; UTF-16 without one (NUL bytes); then UTF-8, checked over the whole file
  (GB18030 would decode UTF-8 bytes into garbage without failing, so it is only tried when
  UTF-8 fails); then GB18030 (a superset of GBK). The delimiter (comma, tab as in Excel's
  "Unicode text", semicolon) is read off the header line.
- XLSX: openpyxl in read-only mode; the sheet named like the template (行政处罚…) or else the
  first. Cells keep their types, so Excel dates arrive as dates and numbers as numbers.
- JSON: ``{"records": [...]}`` or a list of objects; keys may be JSON names, Chinese headers
  or field codes. JSON is read whole (deliveries over the API are integration-sized; the
  upload limit bounds them); CSV and XLSX are streamed, so memory does not grow with the file.

The header row may sit below a title row: the first of the first ten rows that names at
least three template columns is taken. Row numbers are as the agency sees them: for CSV and
XLSX the sheet row (header row 1 in a plain file), for JSON the record's index from 0.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from importers.template import HeaderMap, field_for, map_headers
from registry.errors import FieldError, ValidationFailed

HEADER_SEARCH_ROWS = 10
MIN_HEADER_MATCHES = 3
csv.field_size_limit(16 * 1024 * 1024)


@dataclass
class Source:
    """An opened delivery: what it is and its records as (row number, field -> raw value)."""

    format: str
    encoding: str | None
    header: HeaderMap
    records: Iterator[tuple[int, dict[str, Any]]]
    ignored_columns: list[str] = field(default_factory=list)
    total_rows: int | None = None


def detect_format(path: Path, name: str | None = None) -> str:
    """csv, xlsx or json, by the file name's extension or else by its first bytes."""
    suffix = Path(name or path.name).suffix.lower()
    if suffix == ".xls":
        raise ValidationFailed(
            "the old .xls format is not supported: save the sheet as .xlsx or CSV and deliver it again",
            code="unsupported_format",
            errors=[FieldError("file", "unsupported_format", ".xls is not supported; use .xlsx or CSV", name)],
        )
    if suffix in {".csv", ".txt", ".tsv"}:
        return "csv"
    if suffix in {".xlsx", ".xlsm"}:
        return "xlsx"
    if suffix == ".json":
        return "json"
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return "json"
    return "csv"


def detect_encoding(fh: BinaryIO) -> str:
    """The text encoding of a CSV file (see the module docstring for the order)."""
    fh.seek(0)
    head = fh.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head and head.count(0) > len(head) // 4:
        return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for block in iter(lambda: fh.read(1 << 20), b""):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        fh.seek(0)
    return "utf-8"


def _blank(cells: Any) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _find_header(rows: list[tuple[int, list[Any]]]) -> tuple[int, HeaderMap]:
    best: tuple[int, int] | None = None
    for index, (_rowno, cells) in enumerate(rows):
        matched = sum(1 for c in cells if field_for(c) is not None)
        if matched >= MIN_HEADER_MATCHES:
            return index, map_headers(list(cells))
        if best is None or matched > best[1]:
            best = (index, matched)
    raise ValidationFailed(
        f"no header row found: none of the first {HEADER_SEARCH_ROWS} rows names the template's columns "
        "(行政相对人名称, 统一社会信用代码, 行政处罚决定书文号, …)",
        code="no_header",
        errors=[FieldError("file", "no_header", "no header row with the template's column names")],
    )


def _records(rows: Iterator[tuple[int, list[Any]]], header: HeaderMap) -> Iterator[tuple[int, dict[str, Any]]]:
    positions = list(header.positions.items())
    for rowno, cells in rows:
        if _blank(cells):
            continue
        n = len(cells)
        yield rowno, {name: (cells[pos] if pos < n else None) for name, pos in positions}


def _tabular(rows: Iterator[tuple[int, list[Any]]]) -> tuple[HeaderMap, Iterator[tuple[int, dict[str, Any]]]]:
    head = list(islice(rows, HEADER_SEARCH_ROWS))
    index, header = _find_header(head)
    rest = iter(head[index + 1 :])

    def chained() -> Iterator[tuple[int, list[Any]]]:
        yield from rest
        yield from rows

    return header, _records(chained(), header)


def _csv_rows(text: Any, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    yield from enumerate(csv.reader(text, delimiter=delimiter), start=1)


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


@contextmanager
def open_source(path: Path, name: str | None = None, encoding: str | None = None) -> Iterator[Source]:
    """Open a delivery file for streaming; the files it opens are closed on exit. A CSV's
    ``encoding`` is detected unless given (the reader process gets the importer's answer)."""
    fmt = detect_format(path, name)
    if fmt == "xlsx":
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises several kinds for a broken file
            raise ValidationFailed(
                f"the file is not a readable .xlsx workbook: {exc}",
                code="unreadable_file",
                errors=[FieldError("file", "unreadable_file", str(exc), name)],
            ) from exc
        try:
            sheet = next((ws for ws in workbook.worksheets if "处罚" in ws.title), workbook.worksheets[0])
            rows = ((i, list(r)) for i, r in enumerate(sheet.iter_rows(values_only=True), start=1))
            header, records = _tabular(rows)
            total = sheet.max_row if isinstance(sheet.max_row, int) else None
            yield Source("xlsx", None, header, records, header.ignored, total)
        finally:
            workbook.close()
        return
    if fmt == "json":
        with path.open("rb") as fh:
            yield json_source(_load_json(fh.read()))
        return
    if encoding is None:
        with path.open("rb") as raw:
            encoding = detect_encoding(raw)
    with path.open("r", encoding=encoding, newline="", errors="strict") as text:
        first = text.readline()
        text.seek(0)
        try:
            header, records = _tabular(_csv_rows(text, _sniff_delimiter(first)))
            yield Source("csv", encoding, header, records, header.ignored)
        except UnicodeDecodeError as exc:  # pragma: no cover - detect_encoding read it all
            raise ValidationFailed(f"the file is not valid {encoding}: {exc}", code="encoding") from exc


def _load_json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"the file is not valid JSON: {exc}",
            code="invalid_json",
            errors=[FieldError("file", "invalid_json", str(exc))],
        ) from exc


def json_source(payload: Any) -> Source:
    """A source over JSON records: ``{"records": [...]}`` or a list of objects."""
    records = payload.get("records") if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise ValidationFailed(
            'JSON deliveries are {"records": [...]} or a list of objects',
            code="invalid_json",
            errors=[FieldError("records", "invalid_json", "expected a list of records")],
        )
    ignored: dict[str, None] = {}
    mapped: list[tuple[int, dict[str, Any]]] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            mapped.append((index, {"__not_an_object__": record}))
            continue
        row: dict[str, Any] = {}
        for key, value in record.items():
            name = field_for(key)
            if name is None:
                ignored[str(key)] = None
            else:
                row[name] = value
        mapped.append((index, row))
    header = HeaderMap(positions={}, ignored=list(ignored))
    return Source("json", "utf-8", header, iter(mapped), list(ignored), len(mapped))
