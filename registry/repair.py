"""Credit repair (信用修复) and objections (异议): the ways off the lists (DOMAIN.md §4–§5).

Repair: an application for a published decision or a listing in force, filed through an agency
or admin key on the entity's behalf with the evidence checklist (``policy.toml`` ``[repair]``).
Eligibility is computed when it is filed: a decision must be published, past its minimum
period (``pub_earliest_end``), and carry no penalty type that can never end early; a listing
must be in force, listed for at least ``repair_after_months``, and the entity must have no
heavier penalty decided since it was listed. A refusal names the reason and, when it is only
too early, the date it becomes possible. An admin approves or refuses within a deadline in
working days; overdue applications are listed. Approval takes effect at once: the decision
leaves publication (``repaired_on``; the change feed says DEL repaired), or the listing ends
(``repaired``) and its joint sanctions stop applying to checks.

Objections: against a decision's record (wrong entity, wrong amount, revoked still shown, …);
while open the public record says "under objection"; the deciding agency or an admin resolves
it (``corrected``, ``confirmed``, ``withdrawn``) within a deadline. ``corrected`` requires the
corrected record to have come through the normal delivery path (an update with history)
after the objection was filed. Every state change is written to the audit log here, so the
API and the CLI cannot forget it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Text, and_, exists, select
from sqlmodel import Field, Session, SQLModel
from sqlmodel import select as model_select

from registry import clock
from registry.access import Principal
from registry.audit import record_event
from registry.calendar import calendar
from registry.db import NAMING_CONVENTION  # noqa: F401
from registry.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    require_choice,
    required_text,
)
from registry.listings import Listing, ListingEvent, is_in_force
from registry.penalties import HISTORY, PENALTY, PenaltyDecision, published_on
from registry.policy import add_months, blacklist_policy, publication_policy, repair_policy


class RepairApplication(SQLModel, table=True):
    """An application to end a decision's publication or a listing early."""

    __tablename__ = "repair_application"

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=16)  # decision | listing
    decision_id: int | None = Field(default=None, foreign_key="penalty_decision.id", index=True)
    listing_id: int | None = Field(default=None, foreign_key="listing.id", index=True)
    entity_id: int = Field(foreign_key="entity.id", index=True)
    applicant: str = Field(max_length=128)
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(max_length=16, index=True)  # pending | approved | refused
    filed_on: date = Field(sa_column=Column(Date, nullable=False))
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    filed_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    decided_by: str | None = Field(default=None, max_length=128)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class RecordObjection(SQLModel, table=True):
    """An objection (异议) to a penalty decision's record."""

    __tablename__ = "record_objection"

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="penalty_decision.id", index=True)
    kind: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    filed_by: str = Field(max_length=128)
    status: str = Field(max_length=16, index=True)  # open | corrected | confirmed | withdrawn
    filed_on: date = Field(sa_column=Column(Date, nullable=False))
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    filed_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    resolved_by: str | None = Field(default=None, max_length=128)
    resolution_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


OBJECTION = RecordObjection.__table__  # type: ignore[attr-defined]
REPAIR = RepairApplication.__table__  # type: ignore[attr-defined]


def under_objection() -> Any:
    """SQL: the decision has an open objection (shown publicly as "under objection")."""
    return exists().where(OBJECTION.c.decision_id == PENALTY.c.id, OBJECTION.c.status == "open")


def _refuse(message: str, code: str, **extra: Any) -> Conflict:
    error = Conflict(message, code=code)
    for key, value in extra.items():
        error.errors.append(FieldError(key, code, message, value))
    return error


def _evidence(evidence: dict[str, Any], *, fined: bool) -> dict[str, Any]:
    needed = [e for e in repair_policy().evidence if fined or e != "fine_paid"]
    missing = [e for e in needed if not evidence.get(e)]
    if missing:
        raise ValidationFailed(
            f"evidence: missing or not confirmed: {', '.join(missing)}",
            code="evidence_missing",
            errors=[FieldError(f"evidence.{e}", "required", "required for credit repair") for e in missing],
        )
    return evidence


def _pending(session: Session, column: Any, target_id: int) -> None:
    stmt = select(REPAIR.c.id).where(column == target_id, REPAIR.c.status == "pending")
    found = session.execute(stmt).first()
    if found:
        raise _refuse(f"application {found[0]} for this record is still pending", "already_pending")


def apply(
    *, session: Session, principal: Principal, target: str, target_id: int, evidence: dict[str, Any], text: str | None
) -> RepairApplication:
    """File a repair application after checking eligibility (see the module docstring)."""
    require_choice(target, ("decision", "listing"), field="target")
    day = clock.today()
    if target == "decision":
        decision = session.get(PenaltyDecision, target_id)
        if decision is None:
            raise NotFound(f"no penalty decision with id {target_id}", code="not_found")
        stmt = select(PENALTY.c.id).where(PENALTY.c.id == target_id, published_on(day))
        if session.execute(stmt).first() is None:
            raise _refuse(f"decision {decision.decision_no} is not published today: nothing to end", "not_published")
        types = decision.penalty_types.split(";")
        if not publication_policy().can_end_early(types):
            never = sorted(set(types) & publication_policy().never_early)
            raise _refuse(
                f"decision {decision.decision_no}: {'、'.join(never)} can never end publication early", "never_early"
            )
        if decision.pub_earliest_end is not None and day < decision.pub_earliest_end:
            raise _refuse(
                f"decision {decision.decision_no}: repair is possible from {decision.pub_earliest_end.isoformat()} "
                "(the minimum publication period)",
                "too_early",
                possible_from=decision.pub_earliest_end.isoformat(),
            )
        _evidence(evidence, fined=bool(decision.fine_wan))
        _pending(session, REPAIR.c.decision_id, target_id)
        entity_id, listing_id, decision_id = decision.entity_id, None, target_id
    else:
        listing = session.get(Listing, target_id)
        if listing is None:
            raise NotFound(f"no listing with id {target_id}", code="not_found")
        if not is_in_force(listing, day) or listing.listed_from is None:
            raise _refuse(f"listing {target_id} is not in force: nothing to end", "not_listed")
        possible = add_months(listing.listed_from, blacklist_policy().repair_after_months)
        if day < possible:
            raise _refuse(
                f"listing {target_id}: repair is possible from {possible.isoformat()} (listed at least "
                f"{blacklist_policy().repair_after_months} months)",
                "too_early",
                possible_from=possible.isoformat(),
            )
        heavier = {t for r in blacklist_policy().rules for t in r.penalty_types}
        since = session.execute(
            select(PENALTY.c.decision_no, PENALTY.c.penalty_types).where(
                PENALTY.c.entity_id == listing.entity_id,
                PENALTY.c.status == "active",
                PENALTY.c.decision_date >= listing.listed_from,
            )
        ).all()
        newer_heavier = sorted({n for n, types in since if set(types.split(";")) & heavier})
        if newer_heavier:
            raise _refuse(
                f"listing {target_id}: a heavier penalty was decided since the listing ({', '.join(newer_heavier)})",
                "new_heavier_penalty",
            )
        _evidence(evidence, fined=True)
        _pending(session, REPAIR.c.listing_id, target_id)
        entity_id, listing_id, decision_id = listing.entity_id, target_id, None
    application = RepairApplication(
        target=target,
        decision_id=decision_id,
        listing_id=listing_id,
        entity_id=entity_id,
        applicant=principal.label,
        evidence=evidence,
        text=(text or "").strip() or None,
        status="pending",
        filed_on=day,
        due_on=calendar().add_working_days(day, repair_policy().repair_working_days),
        filed_at=clock.now(),
    )
    session.add(application)
    session.flush()
    record_event(
        session=session,
        principal=principal,
        action="repair.apply",
        target=f"{target}:{target_id}",
        detail={"application_id": application.id},
    )
    return application


def decide(
    *, session: Session, principal: Principal, application_id: int, decision: str, reason: str
) -> RepairApplication:
    """An admin approves or refuses a pending application; approval takes effect at once."""
    require_choice(decision, ("approve", "refuse"), field="decision")
    text = required_text(reason, field="reason", what="a decision needs a reason")
    application = get_application(session=session, application_id=application_id)
    if application.status != "pending":
        raise Conflict(f"application {application_id} is already {application.status}", code="not_pending")
    day, now = clock.today(), clock.now()
    application.status = "approved" if decision == "approve" else "refused"
    application.decided_at, application.decided_by, application.decision_reason = now, principal.label, text
    session.add(application)
    if decision == "approve":
        if application.decision_id is not None:
            target = session.get(PenaltyDecision, application.decision_id)
            assert target is not None
            target.repaired_on = day
            target.updated_at = now
            session.add(target)
        if application.listing_id is not None:
            listing = session.get(Listing, application.listing_id)
            assert listing is not None
            before = listing.status
            if is_in_force(listing, day):
                listing.status, listing.end_reason, listing.ended_on = "ended", "repaired", day
                listing.open_entity_id, listing.updated_at = None, now
                session.add(listing)
                session.add(
                    ListingEvent(
                        listing_id=listing.id or 0,
                        at=now,
                        on=day,
                        actor=principal.label,
                        action="repaired",
                        from_status=before,
                        to_status="ended",
                        reason=text,
                        detail={"application_id": application_id},
                    )
                )
    session.flush()
    record_event(
        session=session,
        principal=principal,
        action=f"repair.{decision}",
        target=str(application_id),
        detail={"reason": text},
    )
    return application


def get_application(*, session: Session, application_id: int) -> RepairApplication:
    """The application with this id, or NotFound."""
    found = session.get(RepairApplication, application_id)
    if found is None:
        raise NotFound(f"no repair application with id {application_id}", code="not_found")
    return found


def list_applications(
    *, session: Session, status: str | None = None, overdue: bool = False, entity_id: int | None = None
) -> list[RepairApplication]:
    """Applications by status; ``overdue``: pending past their processing deadline."""
    stmt = model_select(RepairApplication)
    if status:
        stmt = stmt.where(REPAIR.c.status == status)
    if overdue:
        stmt = stmt.where(and_(REPAIR.c.status == "pending", REPAIR.c.due_on < clock.today()))
    if entity_id is not None:
        stmt = stmt.where(REPAIR.c.entity_id == entity_id)
    return list(session.exec(stmt.order_by(REPAIR.c.id)).all())


def object_to(*, session: Session, principal: Principal, decision_id: int, kind: str, text: str) -> RecordObjection:
    """File an objection to a decision's record; it shows "under objection" while open."""
    require_choice(kind, repair_policy().objection_kinds, field="kind")
    body = required_text(text, field="text", what="an objection needs its text")
    if session.get(PenaltyDecision, decision_id) is None:
        raise NotFound(f"no penalty decision with id {decision_id}", code="not_found")
    open_one = session.execute(
        select(OBJECTION.c.id).where(OBJECTION.c.decision_id == decision_id, OBJECTION.c.status == "open")
    ).first()
    if open_one:
        raise Conflict(f"objection {open_one[0]} to this decision is still open", code="already_open")
    day = clock.today()
    objection = RecordObjection(
        decision_id=decision_id,
        kind=kind,
        text=body,
        filed_by=principal.label,
        status="open",
        filed_on=day,
        due_on=calendar().add_working_days(day, repair_policy().objection_working_days),
        filed_at=clock.now(),
    )
    session.add(objection)
    session.flush()
    record_event(
        session=session,
        principal=principal,
        action="objection.file",
        target=str(decision_id),
        detail={"objection_id": objection.id, "kind": kind},
    )
    return objection


def resolve(
    *, session: Session, principal: Principal, objection_id: int, outcome: str, note: str | None
) -> RecordObjection:
    """The deciding agency (or an admin) resolves an open objection."""
    require_choice(outcome, ("corrected", "confirmed", "withdrawn"), field="outcome")
    objection = session.get(RecordObjection, objection_id)
    if objection is None:
        raise NotFound(f"no objection with id {objection_id}", code="not_found")
    decision = session.get(PenaltyDecision, objection.decision_id)
    assert decision is not None
    if principal.role != "admin" and principal.agency_id != decision.agency_id:
        raise PermissionDenied(
            "only the deciding agency or an admin may resolve this objection", code="not_own_decision"
        )
    if objection.status != "open":
        raise Conflict(f"objection {objection_id} is already {objection.status}", code="not_open")
    if outcome == "corrected":
        corrected = session.execute(
            select(HISTORY.c.id).where(
                HISTORY.c.decision_id == decision.id,
                HISTORY.c.change == "update",
                HISTORY.c.changed_at >= objection.filed_at,
            )
        ).first()
        if corrected is None and decision.status != "revoked":
            raise Conflict(
                "deliver the corrected record first (it updates the decision and keeps its history), "
                "or revoke the decision; then resolve as corrected",
                code="no_correction",
            )
    objection.status = outcome
    objection.resolved_at, objection.resolved_by = clock.now(), principal.label
    objection.resolution_note = (note or "").strip() or None
    session.add(objection)
    session.flush()
    record_event(session=session, principal=principal, action=f"objection.{outcome}", target=str(objection_id))
    return objection


def list_objections(*, session: Session, status: str | None = None, overdue: bool = False) -> list[RecordObjection]:
    """Objections by status; ``overdue``: open past their deadline."""
    stmt = model_select(RecordObjection)
    if status:
        stmt = stmt.where(OBJECTION.c.status == status)
    if overdue:
        stmt = stmt.where(and_(OBJECTION.c.status == "open", OBJECTION.c.due_on < clock.today()))
    return list(session.exec(stmt.order_by(OBJECTION.c.id)).all())


def repair_history(*, session: Session, entity_id: int) -> list[dict[str, Any]]:
    """Approved repairs of an entity, for its public profile: what ended early, and when."""
    out = []
    for app in list_applications(session=session, status="approved", entity_id=entity_id):
        item: dict[str, Any] = {"target": app.target}
        if app.decision_id is not None:
            decision = session.get(PenaltyDecision, app.decision_id)
            assert decision is not None and decision.repaired_on is not None
            item |= {"decision_no": decision.decision_no, "repaired_on": decision.repaired_on.isoformat()}
        if app.listing_id is not None:
            listing = session.get(Listing, app.listing_id)
            assert listing is not None and listing.ended_on is not None
            item |= {"rule_title": listing.rule_title, "repaired_on": listing.ended_on.isoformat()}
        out.append(item)
    return out
