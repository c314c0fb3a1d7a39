"""Personal information: masking of identity numbers for every output path and log line.

Resident identity numbers (居民身份证号) are personal information: never published, never
logged in full, shown masked (at most the first 6 and last 4 characters) to agencies with a
purpose. Every serialiser and the logging setup go through this module.
"""

from __future__ import annotations

import logging
import re

# 17 digits and a digit or X, not inside a longer run of letters or digits. Deliberately
# broad (no checksum test): a mistyped ID is still personal information.
_RESIDENT_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])([1-9][0-9]{5})([0-9]{8})([0-9]{3}[0-9Xx])(?![0-9A-Za-z])")


def mask_id_number(value: str | None) -> str | None:
    """Mask an identity-document number: keep at most the first 6 and the last 4 characters
    (fewer for short numbers: a third at the head, a quarter at the tail), star the rest."""
    if value is None:
        return None
    text = value.strip()
    n = len(text)
    if n == 0:
        return text
    head = min(6, n // 3)
    tail = min(4, n // 4)
    return text[:head] + "*" * (n - head - tail) + (text[n - tail :] if tail else "")


def redact_text(text: str) -> str:
    """Replace every resident-ID-shaped number inside free text with its masked form."""
    if not text:
        return text
    return _RESIDENT_ID_LIKE.sub(lambda m: m.group(1) + "********" + m.group(3)[-4:], text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks resident-ID-shaped numbers in every record it sees,
    including uvicorn's access log lines, whose arguments carry the request path."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and arguments in place; never drops a record.
        Arguments keep their shape, because formatters such as uvicorn's read them."""
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_text(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction(*logger_names: str) -> None:
    """Attach the redacting filter to the handlers of the root logger and the named loggers."""
    names = ("", "uvicorn", "uvicorn.access", "uvicorn.error", *logger_names)
    flt = RedactingFilter()
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(flt)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)


PERSONAL_SCHEMES = frozenset(
    {"resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_perm_id", "other_id"}
)


def public_identifier(scheme: str | None, value: str | None) -> str | None:
    """An identifier as public output may show it: personal documents masked, others as stored.
    Every public serialiser goes through here (or :func:`redact_text` for free text)."""
    if value is None:
        return None
    return mask_id_number(value) if scheme in PERSONAL_SCHEMES else value
