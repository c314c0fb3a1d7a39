"""Rejection reports for agencies: CSV (UTF-8 with BOM, so Excel opens it) or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPORT_HEADERS = ["行号", "字段", "原因代码", "说明", "Message", "值"]
REPORT_KEYS = ["row", "field", "code", "message_zh", "message_en", "value"]


def _cells(item: Any) -> list[Any]:
    return [getattr(item, k, None) if not isinstance(item, dict) else item.get(k) for k in REPORT_KEYS]


def csv_lines(rejections: Iterable[Any]) -> Iterator[str]:
    """The report as CSV text, line by line, starting with a BOM (for streaming responses)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_HEADERS)
    yield "\ufeff" + buffer.getvalue()
    for item in rejections:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(["" if c is None else c for c in _cells(item)])
        yield buffer.getvalue()


def write_report(rejections: Iterable[Any], path: Path) -> int:
    """Write the report to ``path`` as XLSX (by its extension) or CSV; returns the row count."""
    items = list(rejections)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("拒收明细")
        ws.append(REPORT_HEADERS)
        for item in items:
            ws.append(_cells(item))
        wb.save(path)
    else:
        with path.open("w", encoding="utf-8", newline="") as fh:
            for line in csv_lines(items):
                fh.write(line)
    return len(items)
