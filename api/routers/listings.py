"""The blacklist's due process for staff and agencies: proposals, objections, decisions, the
rules run; and the public blacklist rows every other route shares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select
from sqlmodel import Session, col
from sqlmodel import select as model_select

from api.deps import Admin, SessionDep, require
from api.schemas import (
    BlacklistOut,
    ListingDecideIn,
    ListingDecisionOut,
    ListingEventOut,
    ListingList,
    ListingOut,
    ListingPublic,
    ObjectionIn,
    ObjectionOut,
)
from registry import clock, listings
from registry.access import Principal
from registry.audit import record_event
from registry.db import commit_big
from registry.entities import Entity

router = APIRouter(prefix="/api/v1", tags=["blacklist"])
AgencyOrAdmin = Annotated[Principal, Depends(require("agency", "admin"))]


def _decisions(links: list[dict[str, Any]], *, public: bool) -> list[ListingDecisionOut]:
    # the public sees the decisions the listing rests on now; staff also see unlinked ones
    return [ListingDecisionOut(**d) for d in links if not (public and d["removed_on"])]


def public_rows(session: Session, rows: Sequence[Any]) -> list[ListingPublic]:
    """Blacklist rows (from :func:`registry.listings.in_force`) as public entries, each naming
    its rule, basis and the decisions behind it. No personal identity number is included."""
    links = listings.decisions_of(session=session, listing_ids=[r["id"] for r in rows])
    return [
        ListingPublic(
            id=r["id"],
            name=r["entity_name"],
            uscc=r["entity_uscc"],
            kind=r["entity_kind"],
            rule=r["rule_id"],
            rule_title=r["rule_title"],
            basis=r["basis"],
            listed_from=r["listed_from"],
            listed_until=r["listed_until"],
            decisions=_decisions(links[r["id"]], public=True),
        )
        for r in rows
    ]


def blacklist_page(
    session: Session, *, day: date, limit: int | None, offset: int = 0
) -> tuple[list[ListingPublic], int]:
    """The published blacklist on ``day``, newest first, with the total."""
    stmt = listings.in_force(day=day)
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return public_rows(session, session.execute(stmt).mappings().all()), int(total)


def _out(session: Session, items: Iterable[listings.Listing], *, with_events: bool = False) -> list[ListingOut]:
    items = list(items)
    links = listings.decisions_of(session=session, listing_ids=[i.id for i in items if i.id is not None])
    day = clock.today()
    wanted = sorted({i.entity_id for i in items})
    entities = {e.id: e for e in session.exec(model_select(Entity).where(col(Entity.id).in_(wanted))).all()}
    out = []
    for item in items:
        assert item.id is not None
        entity = entities[item.entity_id]
        events = listings.events_of(session=session, listing_id=item.id) if with_events else None
        status = listings.effective_status(item, day)
        ended_on, end_reason = item.ended_on, item.end_reason
        if status != item.status and item.listed_until is not None:  # expired; not yet recorded by a rules run
            ended_on, end_reason = item.listed_until + timedelta(days=1), "expired"
        out.append(
            ListingOut(
                id=item.id,
                entity_id=item.entity_id,
                name=entity.name,
                uscc=entity.uscc,
                rule=item.rule_id,
                rule_title=item.rule_title,
                basis=item.basis,
                status=status,
                proposed_on=item.proposed_on,
                notice=item.notice,
                objection_until=item.objection_until,
                decided_at=item.decided_at,
                decided_by=item.decided_by,
                decision_reason=item.decision_reason,
                listed_from=item.listed_from,
                listed_until=item.listed_until,
                ended_on=ended_on,
                end_reason=end_reason,
                decisions=_decisions(links[item.id], public=False),
                events=[ListingEventOut.model_validate(e, from_attributes=True) for e in events]
                if events is not None
                else None,
            )
        )
    return out


@router.get("/blacklist", response_model=BlacklistOut, tags=["public"], summary="严重失信主体名单 / the blacklist")
def get_blacklist(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> BlacklistOut:
    """Entities listed and published today: name, USCC, rule, basis, listing dates, and the
    decision numbers behind each entry."""
    data, count = blacklist_page(session, day=clock.today(), limit=limit, offset=offset)
    return BlacklistOut(data=data, count=count)


@router.get("/listings", response_model=ListingList, summary="名单流程列表 / listings by status (admin)")
def get_listings(
    session: SessionDep,
    principal: Admin,
    status: Annotated[
        str | None, Query(description="proposed（=notified 待决定）、notified、listed、dropped、ended")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ListingList:
    """Proposals awaiting a decision, listed entries, dropped and ended ones (as of today)."""
    items, count = listings.list_listings(session=session, status=status, limit=limit, offset=offset)
    record_event(session=session, principal=principal, action="listing.list", target=status)
    session.commit()
    return ListingList(data=_out(session, items), count=count)


@router.get("/listings/{listing_id}", response_model=ListingOut, summary="名单记录及其流程 / one listing (admin)")
def get_listing(listing_id: int, session: SessionDep, principal: Admin) -> ListingOut:
    """One listing with its notice, decisions and full history."""
    item = listings.get_listing(session=session, listing_id=listing_id)
    record_event(session=session, principal=principal, action="listing.read", target=str(listing_id))
    session.commit()
    return _out(session, [item], with_events=True)[0]


@router.post("/listings/{listing_id}/decide", response_model=ListingOut, summary="列入或不予列入 / decide (admin)")
def post_decide(listing_id: int, body: ListingDecideIn, session: SessionDep, principal: Admin) -> ListingOut:
    """``list`` or ``drop`` with a reason, after the objection window; 409 while it is open."""
    item = listings.decide(
        session=session, listing_id=listing_id, decision=body.decision, reason=body.reason, actor=principal.label
    )
    record_event(
        session=session,
        principal=principal,
        action=f"listing.{body.decision}",
        target=str(listing_id),
        detail={"reason": body.reason},
    )
    session.commit()
    return _out(session, [item], with_events=True)[0]


@router.post(
    "/listings/{listing_id}/objections",
    response_model=ObjectionOut,
    status_code=201,
    summary="陈述申辩 / file an objection (agency or admin)",
)
def post_objection(listing_id: int, body: ObjectionIn, session: SessionDep, principal: AgencyOrAdmin) -> ObjectionOut:
    """An objection on the entity's behalf while the window is open; 409 after it closed."""
    event = listings.file_objection(session=session, listing_id=listing_id, text=body.text, actor=principal.label)
    record_event(session=session, principal=principal, action="listing.objection", target=str(listing_id))
    session.commit()
    return ObjectionOut(listing_id=listing_id, at=event.at, actor=event.actor, text=event.reason or "")


@router.post("/rules/run", summary="运行列入规则 / run the blacklist rules (admin)")
def post_rules_run(session: SessionDep, principal: Admin) -> dict[str, Any]:
    """What ``xinyong rules run --json`` prints: proposed, listed (in force), expired, revoked."""
    result = listings.run_rules(session=session, actor=principal.label).as_dict()
    record_event(session=session, principal=principal, action="rules.run", detail=result)
    commit_big(session)  # a run over every decision may write much: the WAL emptied behind it
    return result
