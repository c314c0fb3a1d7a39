"""Masking of identity numbers and redaction of logs."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st
from uvicorn.logging import AccessFormatter

from registry.privacy import RedactingFilter, mask_id_number, redact_text


def test_mask_keeps_at_most_first_six_and_last_four() -> None:
    assert mask_id_number("110101199003074514") == "110101********4514"
    assert mask_id_number("E12345678") == "E12****78"
    assert mask_id_number("") == ""
    assert mask_id_number(None) is None


@given(st.text(alphabet="0123456789X", min_size=1, max_size=30))
def test_mask_shows_at_most_ten_characters_and_hides_most_of_short_ones(value: str) -> None:
    masked = mask_id_number(value) or ""
    assert len(masked) == len(value)
    shown = sum(c != "*" for c in masked)
    assert shown <= min(10, len(value) * 7 // 12)


def test_redact_text_finds_ids_in_free_text() -> None:
    text = "法定代表人张三（身份证 110101199003074514）与 11010119900307451x 同住"
    out = redact_text(text)
    assert "110101199003074514" not in out and "11010119900307451x" not in out
    assert "110101********4514" in out
    assert redact_text("统一社会信用代码 91110000600037341L") == "统一社会信用代码 91110000600037341L"


def test_filter_keeps_uvicorn_access_lines_formattable() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/identifiers/110101199003074514", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    line = AccessFormatter(fmt="%(client_addr)s %(request_line)s %(status_code)s", use_colors=False).format(record)
    assert "110101********4514" in line and "110101199003074514" not in line
