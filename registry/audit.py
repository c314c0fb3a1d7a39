"""The audit log: who did or looked up what, when, with what outcome. Append-only.

Rows are only ever inserted. The service offers no update or delete; the ORM refuses to flush
a changed or deleted audit row; and the database itself refuses UPDATE and DELETE on the table
(triggers created by the migration), so not even raw SQL through the application can rewrite
history. Targets and details pass through :func:`registry.privacy.redact_text`: no full
resident ID is ever written here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, event, func, insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, col, select

from registry import clock
from registry.access import Principal
from registry.db import NAMING_CONVENTION, Executor, Prepared, connection_of  # noqa: F401
from registry.errors import PermissionDenied
from registry.privacy import redact_text


class AuditEvent(SQLModel, table=True):
    """One audited action."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    principal: str = Field(max_length=128, index=True)
    role: str = Field(max_length=16)
    action: str = Field(max_length=64, index=True)
    target: str | None = Field(default=None, max_length=256, index=True)
    outcome: str = Field(max_length=32)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
EVENT_COLUMNS = ("at", "principal", "role", "action", "target", "outcome", "detail")
_INSERT = Prepared(insert(AUDIT).returning(AUDIT.c.id), column_keys=EVENT_COLUMNS)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def record_event(
    *,
    session: Executor,
    principal: Principal | str,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> int:
    """Append one event and return its id. ``principal`` is a :class:`Principal` or a label
    such as ``cli:init``. The caller's transaction (``session``: an ORM session or a
    connection) commits it together with the change it describes. A
    :class:`~registry.db.Prepared` insert: nearly every request writes one event, and the ORM's
    unit of work, or even ``Connection.execute``, would cost more than the statement."""
    values = event_values(principal=principal, action=action, target=target, outcome=outcome, detail=detail)
    return int(_INSERT.scalar(connection_of(session), values))


def event_values(
    *,
    principal: Principal | str,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The cells of one event as stored (``EVENT_COLUMNS``): the clock's time, the principal's label
    and role, the target and detail redacted, each cut to its column. What :func:`record_event`
    inserts, and what a statement that writes an event beside its own change binds."""
    if isinstance(principal, Principal):
        label, role = principal.label, principal.role
    else:
        label, role = principal, principal.split(":", 1)[0]
    return {
        "at": clock.now(),
        "principal": label[:128],
        "role": role[:16],
        "action": action[:64],
        "target": redact_text(target)[:256] if target else None,
        "outcome": outcome[:32],
        "detail": _redact(detail) if detail else None,
    }


def list_events(
    *,
    session: Session,
    principal: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEvent], int]:
    """Events matching every given filter, newest first, with the total count."""
    conditions = []
    if principal:
        conditions.append(col(AuditEvent.principal) == principal)
    if action:
        conditions.append(col(AuditEvent.action) == action)
    if target:
        conditions.append(col(AuditEvent.target) == redact_text(target))
    if since:
        conditions.append(col(AuditEvent.at) >= since)
    if until:
        conditions.append(col(AuditEvent.at) < until)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    stmt = select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id).desc()).limit(limit).offset(offset)
    return list(session.exec(stmt).all()), int(total)


@event.listens_for(OrmSession, "before_flush")
def _refuse_audit_changes(session: OrmSession, _flush_context: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionDenied(
                "the audit log is append-only: events cannot be changed or deleted", code="audit_append_only"
            )
