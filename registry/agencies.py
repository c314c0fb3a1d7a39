"""Agencies (行政机关) that deliver penalty decisions and check applicants."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, Session, SQLModel, select

from registry import clock
from registry.db import NAMING_CONVENTION  # noqa: F401
from registry.entities import validated
from registry.errors import Conflict, FieldError, NotFound, ValidationFailed

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Agency(SQLModel, table=True):
    """An agency known to the registry, by a short code of its own choosing and its USCC."""

    __tablename__ = "agency"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=256)
    uscc: str = Field(max_length=18, index=True)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


def add_agency(*, session: Session, code: str, name: str, uscc: str) -> Agency:
    """Register an agency. Adding the same agency again returns it unchanged; the same code
    with another name or USCC is a :class:`Conflict`."""
    code = code.strip()
    if not _CODE.match(code):
        raise ValidationFailed(
            f"code: {code!r} is not a valid agency code: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            code="agency_code",
            errors=[FieldError("code", "agency_code", "1-64 letters, digits, '.', '_' or '-'", code)],
        )
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "name: an agency needs a name",
            code="required",
            errors=[FieldError("name", "required", "name is required")],
        )
    normal = validated(uscc, "uscc", field="uscc").value
    existing = session.exec(select(Agency).where(Agency.code == code)).first()
    if existing is not None:
        if existing.name == name and existing.uscc == normal:
            return existing
        raise Conflict(
            f"agency {code!r} already exists as {existing.name!r} (USCC {existing.uscc}); choose another code",
            code="agency_exists",
        )
    agency = Agency(code=code, name=name, uscc=normal, created_at=clock.now())
    session.add(agency)
    session.flush()
    return agency


def get_agency(*, session: Session, code: str) -> Agency:
    """The agency with this code, or :class:`NotFound` naming the mending command."""
    agency = session.exec(select(Agency).where(Agency.code == code.strip())).first()
    if agency is None:
        raise NotFound(f"no agency with code {code!r}; add it with `xinyong agency add`", code="unknown_agency")
    return agency


def list_agencies(*, session: Session) -> list[Agency]:
    """All agencies, by code."""
    return list(session.exec(select(Agency).order_by(Agency.code)).all())
