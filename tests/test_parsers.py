"""Property tests for the row parsers: dates, amounts, headers, encodings."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importers.readers import detect_encoding
from importers.rows import parse_amount, parse_date
from importers.template import columns, field_for

SPELLINGS = [
    lambda d: f"{d:%Y-%m-%d}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d:%Y%m%d}",
    lambda d: f"{d.year}年{d.month}月{d.day}日",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d:%Y-%m-%d} 00:00:00",
    lambda d: datetime(d.year, d.month, d.day, 9, 30),
    lambda d: (d - date(1899, 12, 30)).days,  # an Excel serial number
]


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2099, 12, 31)), st.sampled_from(SPELLINGS))
def test_every_date_spelling_parses_to_the_same_date(day: date, spell) -> None:  # type: ignore[no-untyped-def]
    assert parse_date(spell(day)) == day


@pytest.mark.parametrize("text", ["2024-02-30", "2024-13-01", "昨天", "24-3-5", "2024年3月", ""])
def test_impossible_dates_are_none(text: str) -> None:
    assert parse_date(text) is None


@given(st.decimals(min_value=0, max_value=Decimal("99999999"), places=6, allow_nan=False, allow_infinity=False))
def test_amounts_are_exact(value: Decimal) -> None:
    assert parse_amount(str(value)) == value
    assert parse_amount(f"{value:,}") == value  # thousands separators


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: round(f, 4)))
def test_excel_number_cells_become_exact_decimals(value: float) -> None:
    assert parse_amount(value) == Decimal(repr(value)).quantize(Decimal("0.000001"))


@pytest.mark.parametrize(
    ("value", "reason"), [("-1", "negative"), ("1.0000001", "precision"), ("abc", "amount"), ("NaN", "amount")]
)
def test_bad_amounts_say_why(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_amount(value)


def test_amount_with_unit_is_accepted() -> None:
    assert parse_amount("1.5万元") == Decimal("1.5")


@given(st.sampled_from(columns()), st.sampled_from(["{}", "*{}", " {} ", "{}（必填）", "{}(选填)", "＊{}"]))
def test_header_variants_map_to_their_field(col, pattern: str) -> None:  # type: ignore[no-untyped-def]
    assert field_for(pattern.format(col.header)) == col.json
    if col.code:
        assert field_for(pattern.format(col.code.lower())) == col.json


@given(st.text(alphabet="行政相对人名称统一社会信用代码罚款金额万元，。、abc123", min_size=1, max_size=200))
def test_encoding_detection_never_mistakes_utf8_for_gb18030(text: str) -> None:
    data = ("名称\n" + text).encode("utf-8")
    assert detect_encoding(io.BytesIO(data)) == "utf-8"
    gb = ("名称\n" + text).encode("gb18030")
    if gb != data:
        assert detect_encoding(io.BytesIO(gb)) == "gb18030"
