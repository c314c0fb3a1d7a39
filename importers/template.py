"""The 双公示 行政处罚 template: columns, header matching, the file-level check.

Headers are matched by the Chinese header, the CF_ field code or the JSON name, tolerant of
full-width brackets and spaces, stray spaces, ``*`` and ``（必填）``/``（选填）`` markers. A file
missing required columns is refused as a whole, naming every missing column.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from registry.errors import FieldError, ValidationFailed


@dataclass(frozen=True)
class Column:
    """One column of the template."""

    json: str
    header: str
    code: str | None = None
    required: bool = False
    identifier: bool = False
    max_length: int | None = None


@lru_cache(maxsize=1)
def columns() -> tuple[Column, ...]:
    """The template's columns, in template order."""
    with resources.files("importers").joinpath("data/template.toml").open("rb") as fh:
        data = tomllib.load(fh)
    return tuple(Column(**c) for c in data["columns"])


def template_headers() -> list[str]:
    """The national template's 30 headers, in order (without the registry's optional 是否故意)."""
    return [c.header for c in columns() if c.code]


def by_json() -> dict[str, Column]:
    """Columns by JSON name."""
    return {c.json: c for c in columns()}


_MARKERS = re.compile(r"[*＊]|[(（](必填|选填|必填项|选填项|required|optional)[)）]", re.IGNORECASE)


def normalize_header(header: Any) -> str:
    """The comparable form of a header cell: NFKC, markers and all white space removed,
    lower case (for JSON names and field codes)."""
    text = unicodedata.normalize("NFKC", str(header or ""))
    text = _MARKERS.sub("", text)
    return re.sub(r"\s+", "", text).lower()


@lru_cache(maxsize=1)
def _header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for col in columns():
        for name in (col.header, col.code, col.json):
            if name:
                index[normalize_header(name)] = col.json
    return index


def field_for(header: Any) -> str | None:
    """The JSON name a header stands for, or None."""
    return _header_index().get(normalize_header(header))


@dataclass
class HeaderMap:
    """Which position of a row holds which field, and what was ignored."""

    positions: dict[str, int]
    ignored: list[str] = field(default_factory=list)

    def matched(self) -> int:
        """How many template fields the header names."""
        return len(self.positions)


def map_headers(headers: list[Any]) -> HeaderMap:
    """Map a header row to fields; refuses a header naming one field twice."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    twice: list[FieldError] = []
    for i, header in enumerate(headers):
        name = field_for(header)
        if name is None:
            if str(header or "").strip():
                ignored.append(str(header).strip())
            continue
        if name in positions:
            twice.append(
                FieldError(name, "duplicate_column", f"columns {positions[name] + 1} and {i + 1} both hold {name}")
            )
            continue
        positions[name] = i
    if twice:
        raise ValidationFailed(
            "the header names a field twice: " + "; ".join(e.message for e in twice),
            code="duplicate_column",
            errors=twice,
        )
    return HeaderMap(positions=positions, ignored=ignored)


def check_columns(present: set[str]) -> None:
    """Refuse a file without every required column, or without any identifier column."""
    missing = [c for c in columns() if c.required and c.json not in present]
    errors = [
        FieldError(
            c.json, "missing_column", f"缺少必填列“{c.header}”（{c.code}） / required column {c.header} is missing"
        )
        for c in missing
    ]
    if not any(c.identifier and c.json in present for c in columns()):
        errors.append(
            FieldError(
                "uscc",
                "missing_column",
                "缺少主体标识列（统一社会信用代码或证件号码等） / no identifier column (统一社会信用代码, 证件号码, …)",
            )
        )
    if errors:
        names = ", ".join(f"{c.header}({c.code})" for c in missing) or "an identifier column"
        raise ValidationFailed(
            f"the file is refused: missing required columns: {names}", code="missing_columns", errors=errors
        )
