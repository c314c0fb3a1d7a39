"""Import batches: one row per delivery (file or JSON post) and the rows it rejected.

A batch keeps the agency, who delivered it, the file name, its SHA-256, the format and
detected encoding, the counts and the timings. Rejections keep the row number as the agency
sees it, the field, a stable code and messages in Chinese and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text, insert
from sqlmodel import Field, Session, SQLModel, col, select

from registry import clock
from registry.db import NAMING_CONVENTION  # noqa: F401
from registry.errors import NotFound, PermissionDenied


@dataclass
class Rejection:
    """Why one row was not stored: row, field, stable code, messages, the (masked) value."""

    row: int
    field: str
    code: str
    message_zh: str
    message_en: str
    value: str | None = None


class ImportBatch(SQLModel, table=True):
    """One delivery of penalty decisions."""

    __tablename__ = "import_batch"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    principal: str = Field(max_length=128)
    file_name: str | None = Field(default=None, max_length=256)
    sha256: str | None = Field(default=None, max_length=64)
    size_bytes: int | None = None
    format: str = Field(max_length=8)
    encoding: str | None = Field(default=None, max_length=16)
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    status: str = Field(default="running", max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ignored_columns: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    started_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    duration_ms: int | None = None


class ImportRejection(SQLModel, table=True):
    """One reason one row of a batch was not stored."""

    __tablename__ = "import_rejection"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="import_batch.id", index=True)
    row: int
    field: str = Field(max_length=64)
    code: str = Field(max_length=64)
    message_zh: str = Field(sa_column=Column(Text, nullable=False))
    message_en: str = Field(sa_column=Column(Text, nullable=False))
    value: str | None = Field(default=None, max_length=256)


REJECTION = ImportRejection.__table__  # type: ignore[attr-defined]


def start_batch(
    *,
    session: Session,
    agency_id: int,
    principal: str,
    fmt: str,
    file_name: str | None = None,
    sha256: str | None = None,
    size_bytes: int | None = None,
    encoding: str | None = None,
) -> ImportBatch:
    """Open a batch (inside the caller's transaction, which also holds its rows)."""
    batch = ImportBatch(
        agency_id=agency_id,
        principal=principal[:128],
        file_name=(file_name or "")[:256] or None,
        sha256=sha256,
        size_bytes=size_bytes,
        format=fmt,
        encoding=encoding,
        started_at=clock.now(),
    )
    session.add(batch)
    session.flush()
    return batch


def add_rejections(*, session: Session, batch_id: int, rejections: list[Rejection]) -> None:
    """Store rejections in bulk."""
    if rejections:
        session.execute(
            insert(REJECTION),
            [
                {
                    "batch_id": batch_id,
                    "row": r.row,
                    "field": r.field[:64],
                    "code": r.code[:64],
                    "message_zh": r.message_zh,
                    "message_en": r.message_en,
                    "value": (r.value or "")[:256] or None,
                }
                for r in rejections
            ],
        )


def get_batch(*, session: Session, batch_id: int, agency_id: int | None = None) -> ImportBatch:
    """A batch; with ``agency_id``, only that agency's own (403 otherwise)."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"no import batch with id {batch_id}", code="not_found")
    if agency_id is not None and batch.agency_id != agency_id:
        raise PermissionDenied("this batch belongs to another agency", code="not_own_batch")
    return batch


def rejections_of(*, session: Session, batch_id: int) -> list[ImportRejection]:
    """A batch's rejections in row order."""
    stmt = select(ImportRejection).where(ImportRejection.batch_id == batch_id)
    return list(session.exec(stmt.order_by(col(ImportRejection.row), col(ImportRejection.id))).all())


def summary(batch: ImportBatch) -> dict[str, Any]:
    """The batch summary of CONTRACT.md plus the batch's own facts."""
    return {
        "batch_id": batch.id,
        "rows": batch.rows,
        "inserted": batch.inserted,
        "updated": batch.updated,
        "unchanged": batch.unchanged,
        "rejected": batch.rejected,
        "status": batch.status,
        "file_name": batch.file_name,
        "format": batch.format,
        "encoding": batch.encoding,
        "sha256": batch.sha256,
        "ignored_columns": batch.ignored_columns or [],
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "duration_ms": batch.duration_ms,
    }
