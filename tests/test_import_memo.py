"""The reader's memos (identifiers, dates and party types per raw cell text) give exactly what
the full row-by-row checks give: the same records, digests and stored values, and the same
rejections (row, field, code, messages, value), for valid and invalid rows mixed."""

from __future__ import annotations

from dataclasses import astuple
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import importers.rows as rows_module
from importers.rows import RowValidator
from importers.template import field_for
from registry.batches import Rejection
from registry.identifiers import build_reg_no, build_uscc
from registry.penalties import DecisionRecord, stored_values
from tests.fixtures.make_fixtures import AGENCY_USCC, PERSON_ID, good_rows

TODAY = date(2025, 6, 30)
USCC = build_uscc("9", "1", "310115", "FX100001")
IDENTIFIERS = st.sampled_from(
    [
        None, "", "  ", USCC, USCC.lower(), f" {USCC} ", USCC[:6] + "-" + USCC[6:], "９" + USCC[1:],
        USCC[:17] + "0", USCC[:17] + "1", USCC[:-1], "00000000000000000X", "9.13101E+17", 9.13101e17,
        913101150000000000, AGENCY_USCC, AGENCY_USCC.lower(), build_reg_no("31011560000088"), "31011560000088",
        "310115600000880", 31011560000088, "MA1FL8KX5", "MA1FL8KX-5", "12345678", PERSON_ID, PERSON_ID.lower(),
        PERSON_ID[:-1] + "0", "甲乙丙", "X" * 70, "AB", 12.5,
    ]
)  # fmt: skip
DATES = st.sampled_from(
    [
        None, "", " ", "2024-03-05", "2024/3/5", "20240305", "2024年3月5日", "2024.3.5", "２０２４-03-05",
        "2024-03-05 10:20", "2024-02-30", "2099-01-01", "2023-01-01", "2025-06-30", "2025-07-01", "昨天",
        date(2024, 3, 5), datetime(2024, 3, 5, 8, 0), 45356, 45356.0, 20240305, "45356", True,
    ]
)  # fmt: skip
PARTY_TYPES = st.sampled_from(
    [None, "", "法人及非法人组织", "法人及非法人组织 ", "自然人", "自 然 人", "个体工商户", "个人", "法人", 1]
)
AMOUNTS = st.sampled_from([None, "", "5", "0.123456", "0.1234567", "-1", "1e3", "万", 5, 2.5, Decimal("3"), True])
PENALTY_TYPES = st.sampled_from([None, "", "罚款", "警告;罚款", "罚款、吊销许可证件", "罚金", "警告，没收违法所得"])
VARIED = {
    "uscc": IDENTIFIERS,
    "reg_no": IDENTIFIERS,
    "org_code": IDENTIFIERS,
    "tax_no": IDENTIFIERS,
    "institution_no": IDENTIFIERS,
    "social_org_no": IDENTIFIERS,
    "agency_uscc": IDENTIFIERS,
    "source_uscc": IDENTIFIERS,
    "id_no": IDENTIFIERS,
    "legal_rep_id_no": IDENTIFIERS,
    "id_type": st.sampled_from([None, "", "身份证", "护照", "军官证X"]),
    "legal_rep_id_type": st.sampled_from([None, "", "身份证", "护照", "未知"]),
    "party_type": PARTY_TYPES,
    "decision_date": DATES,
    "valid_until": DATES,
    "publish_until": DATES,
    "fine_wan": AMOUNTS,
    "confiscated_wan": AMOUNTS,
    "penalty_types": PENALTY_TYPES,
    "deliberate": st.sampled_from([None, "", "是", "否", "也许"]),
}
BASE = [{field_for(k): v for k, v in row.items()} for row in good_rows()]


@st.composite
def chunks(draw: st.DrawFn) -> list[tuple[int, dict[str, Any]]]:
    """Rows from the valid fixtures with a few cells changed; the changed cells come from small
    pools, so the same texts recur (the memos are hit) in rows that differ otherwise."""
    rows = []
    for i in range(draw(st.integers(1, 30))):
        row = dict(BASE[draw(st.integers(0, len(BASE) - 1))])
        for name in draw(st.lists(st.sampled_from(sorted(VARIED)), max_size=4)):
            row[name] = draw(VARIED[name])
        rows.append((i + 2, row))
    return rows


def _outcome(result: DecisionRecord | list[Rejection]) -> tuple[Any, ...]:
    if isinstance(result, DecisionRecord):
        assert result.values is not None
        return ("record", result.row, result.claim, result.values, result.digest, result.number,
                stored_values(result.values, TODAY))  # fmt: skip
    return ("rejected", [astuple(r) for r in result])


def _row_wise(chunk: list[tuple[int, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    # a fresh validator per row: nothing remembered from other rows
    return [_outcome(RowValidator(TODAY, memo=False).validate(row, raw)) for row, raw in chunk]


def _memoised(validator: RowValidator, chunk: list[tuple[int, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return [_outcome(validator.validate(row, raw)) for row, raw in chunk]


@settings(max_examples=300, deadline=None)
@given(chunk=chunks(), limit=st.sampled_from([2, 5, 65_536]))
def test_memoised_validation_equals_the_row_wise_checks(chunk: list[tuple[int, dict[str, Any]]], limit: int) -> None:
    expected = _row_wise(chunk)
    saved = rows_module.MEMO_LIMIT
    rows_module.MEMO_LIMIT = limit  # small limits: the memos fill up and start afresh mid-chunk
    try:
        validator = RowValidator(TODAY)
        assert _memoised(validator, chunk) == expected
        assert _memoised(validator, chunk[::-1]) == expected[::-1]  # again, from warm memos
        assert all(len(m) <= limit for m in validator._known_idents.values())
        assert len(validator._known_dates) <= limit and len(validator._known_party_types) <= limit
    finally:
        rows_module.MEMO_LIMIT = saved


@pytest.mark.parametrize(
    "poison",
    [
        lambda v: v._known_dates.__setitem__("2024-03-05", date(2024, 3, 6)),
        lambda v: v._known_idents.setdefault("uscc", {}).__setitem__(USCC, AGENCY_USCC),
        lambda v: v._known_party_types.__setitem__("法人及非法人组织", "natural_person"),
    ],
)
def test_the_comparison_catches_a_memo_that_disagrees(poison: Any) -> None:
    """The property above would fail if a memo gave something the full checks do not."""
    row = {**BASE[0], "uscc": USCC, "decision_date": "2024-03-05", "party_type": "法人及非法人组织"}
    chunk = [(2, row)]
    validator = RowValidator(TODAY)
    poison(validator)
    assert _memoised(validator, chunk) != _row_wise(chunk)
