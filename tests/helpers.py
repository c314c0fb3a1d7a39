"""Small builders shared by the tests: valid codes made from parts, agencies, keys."""

from __future__ import annotations

import zlib

from sqlmodel import Session

from registry.access import create_key
from registry.agencies import Agency, add_agency
from registry.identifiers import build_uscc

AGENCY_USCC = build_uscc("1", "1", "310000", "TT000001")


def make_agency(session: Session, code: str = "SAMR-SH", name: str = "上海市市场监督管理局") -> Agency:
    """An agency with a valid USCC."""
    agency = add_agency(
        session=session,
        code=code,
        name=name,
        uscc=build_uscc("1", "1", "310000", f"TT{zlib.crc32(code.encode()) % 10**6:06d}"),
    )
    session.commit()
    return agency


def make_key(session: Session, role: str, agency: str | None = None) -> str:
    """A raw key of ``role`` (agency keys need ``agency``)."""
    _key, raw = create_key(session=session, role=role, agency_code=agency)
    session.commit()
    return raw


def bearer(raw: str) -> dict[str, str]:
    """The Authorization header for a raw key."""
    return {"Authorization": f"Bearer {raw}"}
