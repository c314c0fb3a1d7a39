"""Administrative penalty decisions (行政处罚决定) and their history.

A decision is keyed on (delivering agency, decision number, party): one decision number may
name several parties in a joint case, and a re-sent decision updates, never duplicates. The
content of a decision is hashed; a re-delivery with the same content is *unchanged*, one with
different content is *updated* and the previous version goes to ``penalty_decision_history``
with the batch that changed it. Revocation (撤销) is a status with a reason and time, and
also leaves a history row; revoked decisions are never deleted.

Loading is set-based: one look-up per chunk for existing decisions, bulk inserts and bulk
updates (executemany), never one ORM object per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    update,
)
from sqlmodel import Field, Session, SQLModel, col, select

from registry import clock
from registry.batches import Rejection
from registry.calendar import calendar
from registry.clock import CST
from registry.codes import PERSONAL_SCHEMES
from registry.db import (  # noqa: F401
    NAMING_CONVENTION,
    ExactDecimal,
    as_date,
    bulk_insert,
    insert_plain,
    one_of,
    plain_codec,
)
from registry.entities import EntityClaim, NewEntities, resolve_many
from registry.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    required_text,
)
from registry.policy import publication_policy
from registry.publication import window

# The decision's own content: what the hash covers and what history keeps.
CONTENT_FIELDS = (
    "name",
    "party_type",
    "uscc",
    "reg_no",
    "org_code",
    "tax_no",
    "institution_no",
    "social_org_no",
    "legal_rep",
    "legal_rep_id_type",
    "legal_rep_id_no",
    "id_type",
    "id_no",
    "violation_type",
    "facts",
    "basis",
    "penalty_types",
    "content",
    "fine_wan",
    "confiscated_wan",
    "license_affected",
    "decision_date",
    "valid_until",
    "publish_until",
    "agency_name",
    "agency_uscc",
    "source_name",
    "source_uscc",
    "remarks",
    "deliberate",
)
# Which record field an identifier scheme came from, to name the field in a rejection.
SCHEME_FIELD = {s: s for s in ("uscc", "reg_no", "org_code", "tax_no", "institution_no", "social_org_no")} | {
    s: "id_no" for s in PERSONAL_SCHEMES
}


class PenaltyDecision(SQLModel, table=True):
    """One administrative penalty decision against one party."""

    __tablename__ = "penalty_decision"
    __table_args__ = (UniqueConstraint("agency_id", "decision_no", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    # (agency_id, decision_no, entity_id) is unique, which also indexes agency_id
    agency_id: int = Field(foreign_key="agency.id")
    entity_id: int = Field(foreign_key="entity.id", index=True)
    decision_no: str = Field(max_length=128)
    name: str = Field(max_length=512)
    party_type: str = Field(max_length=32)
    uscc: str | None = Field(default=None, max_length=18)
    reg_no: str | None = Field(default=None, max_length=15)
    org_code: str | None = Field(default=None, max_length=9)
    tax_no: str | None = Field(default=None, max_length=20)
    institution_no: str | None = Field(default=None, max_length=64)
    social_org_no: str | None = Field(default=None, max_length=64)
    legal_rep: str | None = Field(default=None, max_length=128)
    legal_rep_id_type: str | None = Field(default=None, max_length=32)
    legal_rep_id_no: str | None = Field(default=None, max_length=64)
    id_type: str | None = Field(default=None, max_length=32)
    id_no: str | None = Field(default=None, max_length=64)
    violation_type: str = Field(max_length=256)
    facts: str = Field(sa_column=Column(Text, nullable=False))
    basis: str = Field(sa_column=Column(Text, nullable=False))
    penalty_types: str = Field(max_length=256)
    content: str = Field(sa_column=Column(Text, nullable=False))
    fine_wan: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    confiscated_wan: Decimal | None = Field(default=None, sa_column=Column(ExactDecimal(), nullable=True))
    license_affected: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # No index on dates or violation types yet: the publication issue adds the ones its queries use.
    decision_date: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    publish_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    agency_name: str = Field(max_length=256)
    agency_uscc: str = Field(max_length=18)
    source_name: str = Field(max_length=256)
    source_uscc: str = Field(max_length=18)
    remarks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    deliberate: bool | None = Field(default=None)
    content_hash: str = Field(max_length=64)
    # The publication window (registry.publication.window), derived when the decision is stored.
    pub_class: str = Field(max_length=16)
    pub_published: bool
    pub_from: date = Field(sa_column=Column(Date, nullable=False))
    pub_earliest_end: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    pub_latest_end: date = Field(sa_column=Column(Date, nullable=False, index=True))
    # Timeliness of the delivery (双公示: within N working days of the decision, a policy setting).
    delivered_on: date = Field(sa_column=Column(Date, nullable=False))
    publish_deadline: date = Field(sa_column=Column(Date, nullable=False))
    status: str = Field(default="active", max_length=16)
    # set when an approved credit repair ended publication early (registry.repair)
    repaired_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    revoked_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    first_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    last_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    delivered_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


PENALTY = PenaltyDecision.__table__  # type: ignore[attr-defined]


class PenaltyDecisionHistory(SQLModel, table=True):
    """A previous version of a decision, kept when it was updated or revoked."""

    __tablename__ = "penalty_decision_history"

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="penalty_decision.id", index=True)
    batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    changed_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    change: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    previous_hash: str = Field(sa_column=Column(String(64), nullable=False))


HISTORY = PenaltyDecisionHistory.__table__  # type: ignore[attr-defined]


@dataclass
class DecisionRecord:
    """A validated row: its number as the agency sees it, its party, and its content."""

    row: int
    claim: EntityClaim
    # None when the record came from the reader process: the loader decodes its stored values
    # (stored_values) only for the rare update, and takes the number and digest as sent
    values: dict[str, Any] | None
    digest: str = ""
    number: str = ""

    def __post_init__(self) -> None:
        # Hashed where the record is made (the reader process, in a parallel import).
        if self.values is not None:
            if not self.digest:
                self.digest = content_hash(self.values)
            if not self.number:
                self.number = str(self.values["decision_no"])

    @property
    def decision_no(self) -> str:
        """The decision number (行政处罚决定书文号)."""
        return self.number


@dataclass
class LoadResult:
    """What loading one chunk did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    # entities whose decisions were inserted or changed: the ones the blacklist rules re-read
    entity_ids: set[int] = field(default_factory=set)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | Decimal):
        return str(value)
    return value


WINDOW_FIELDS = ("pub_class", "pub_published", "pub_from", "pub_earliest_end", "pub_latest_end", "publish_deadline")


def publish_deadline(decided: date) -> date:
    """The last day a decision may be delivered on time: its date plus the policy's working
    days (weekends and official holidays excluded, adjusted working days included)."""
    return _deadline(decided, publication_policy().deadline_working_days)


@lru_cache(maxsize=8192)
def _deadline(decided: date, working_days: int) -> date:
    # decisions share dates: one calendar walk per date, not per row
    return calendar().add_working_days(decided, working_days)


def _window_columns(values: dict[str, Any], delivered_on: date) -> dict[str, Any]:
    return dict(
        zip(
            WINDOW_FIELDS,
            _window_of(
                values["decision_date"],
                values.get("penalty_types"),
                values.get("publish_until"),
                delivered_on,
                publication_policy(),
            ),
            strict=True,
        )
    )


@lru_cache(maxsize=65536)
def _window_of(
    decided: date, penalty_types: str | None, publish_until: date | None, delivered_on: date, policy: Any
) -> tuple[Any, ...]:
    # decisions share dates and penalty types: one window per combination, not per row
    w = window(
        decision_date=decided,
        delivered_on=delivered_on,
        penalty_types=penalty_types.split(";") if penalty_types else [],
        publish_until=publish_until,
        policy=policy,
    )
    deadline = _deadline(decided, policy.deadline_working_days)
    return (w.class_id, w.published, w.published_from, w.earliest_end, w.latest_end, deadline)


# A decision's own columns as the reader process prepares them for an insert (plain form,
# registry.db.plain_codec), delivered on ``delivered_on``.
STORED_FIELDS = ("decision_no", *CONTENT_FIELDS, *WINDOW_FIELDS)
_VALUE_FIELDS = STORED_FIELDS[: 1 + len(CONTENT_FIELDS)]
_VALUES_ENCODE, _VALUES_DECODE = plain_codec(PENALTY, _VALUE_FIELDS)
_WINDOW_ENCODE = plain_codec(PENALTY, WINDOW_FIELDS)[0]


def stored_values(values: dict[str, Any], delivered_on: date) -> tuple[Any, ...]:
    """The ``STORED_FIELDS`` of a validated record in plain form (made where the record is)."""
    key = (values["decision_date"], values.get("penalty_types"), values.get("publish_until"), delivered_on)
    policy = publication_policy()
    global _STORED_WINDOWS
    cached_for, known = _STORED_WINDOWS
    if cached_for is not policy or len(known) > 65536:
        # one cache per policy, keyed without it: hashing its dataclass per row costs more than
        # the rest of the look-up
        known = {}
        _STORED_WINDOWS = (policy, known)
    window = known.get(key)
    if window is None:
        window = known[key] = _WINDOW_ENCODE(list(_window_of(*key, policy)))
    return _VALUES_ENCODE(list(map(values.get, _VALUE_FIELDS))) + window


_STORED_WINDOWS: tuple[Any, dict[Any, tuple[Any, ...]]] = (None, {})


def values_of(stored: Sequence[Any]) -> dict[str, Any]:
    """The record values (number and content) back from :func:`stored_values`."""
    return dict(zip(_VALUE_FIELDS, _VALUES_DECODE(stored[: len(_VALUE_FIELDS)]), strict=True))


def _delivered_on(row: dict[str, Any]) -> date:
    """The day (in China) a decision was first delivered."""
    delivered = row["delivered_at"]
    if delivered.tzinfo is None:
        delivered = delivered.replace(tzinfo=UTC)
    return delivered.astimezone(CST).date()


def with_agency_code(*conditions: Any) -> Any:
    """Decisions with their delivering agency's code, newest first: what every public listing,
    download and feed reads (``PenaltyPublic.from_row`` takes its rows)."""
    from registry.agencies import Agency
    from registry.repair import under_objection  # repair builds on penalties

    agency = Agency.__table__  # type: ignore[attr-defined]
    return (
        select(PENALTY, agency.c.code.label("agency_code"), under_objection().label("under_objection"))
        .select_from(PENALTY.join(agency, agency.c.id == PENALTY.c.agency_id))
        .where(*conditions)
        .order_by(PENALTY.c.decision_date.desc(), PENALTY.c.id.desc())
    )


def published_on(day: date) -> Any:
    """The SQL condition "this decision is published on ``day``": active, of a published
    class, inside its window, not ended early by credit repair."""
    return and_(
        PENALTY.c.status == "active",
        PENALTY.c.pub_published.is_(True),
        PENALTY.c.pub_from <= day,
        PENALTY.c.pub_latest_end > day,
        or_(PENALTY.c.repaired_on.is_(None), PENALTY.c.repaired_on > day),
    )


def content_hash(values: dict[str, Any]) -> str:
    """A digest of the decision's content, stable across engines and file formats."""
    # a list, not a generator, and str() only for what is not text already: computed per row
    payload = "\x1f".join(
        [v if type(v) is str else "\x00" if v is None else str(v) for v in map(values.get, CONTENT_FIELDS)]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _row_key(decision_no: str, entity_id: int) -> int:
    digest = hashlib.blake2b(f"{decision_no}\x1f{entity_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def load_decisions(
    *,
    session: Session,
    agency_id: int,
    batch_id: int | None,
    records: Sequence[DecisionRecord],
    seen: dict[int, int],
    stored: Sequence[tuple[Any, ...]] | None = None,
    stored_on: date | None = None,
    deferred: NewEntities | None = None,
) -> LoadResult:
    """Upsert a chunk of validated decisions of one agency.

    ``seen`` maps the key of every decision already loaded in this batch to its row number, so
    the same decision twice in one delivery is reported (``duplicate_in_file``) rather than
    stored twice. Returns the counts and the rejections (identifier conflicts, duplicates).
    ``stored`` may give each record's :func:`stored_values` as delivered on ``stored_on`` (the
    reader process prepares them); they are used when that day is today. ``deferred``: see
    :func:`registry.entities.resolve_many` (the caller then runs ``index_new_entities``).
    """
    result = LoadResult()
    now = clock.now()
    today = clock.today()
    if stored is None:
        stored = [stored_values(_values(r, None), today) for r in records]
    elif stored_on != today:  # prepared for another day (the import ran past midnight)
        stored = [stored_values(_values(r, plain), today) for r, plain in zip(records, stored, strict=True)]
    resolved = resolve_many(session=session, claims=[r.claim for r in records], deferred=deferred)
    ready: list[tuple[DecisionRecord, str, int, tuple[Any, ...]]] = []
    for record, outcome, plain in zip(records, resolved, stored, strict=True):
        if isinstance(outcome, Conflict):
            err = outcome.errors[0] if outcome.errors else FieldError("uscc", outcome.code, outcome.message)
            result.rejections.append(
                Rejection(
                    row=record.row,
                    field=SCHEME_FIELD.get(err.field, err.field),
                    code=outcome.code,
                    message_zh="标识码与登记簿中的主体冲突：" + outcome.message,
                    message_en=outcome.message,
                    value=err.value,
                )
            )
            continue
        number = record.decision_no
        key = _row_key(number, outcome)
        first_row = seen.get(key)
        if first_row is not None:
            result.rejections.append(
                Rejection(
                    row=record.row,
                    field="decision_no",
                    code="duplicate_in_file",
                    message_zh=f"同一决定（文号与当事人相同）已在第{first_row}行出现",
                    message_en=f"the same decision (same number and party) already appears in row {first_row}",
                    value=number,
                )
            )
            continue
        seen[key] = record.row
        ready.append((record, number, outcome, plain))

    existing: dict[tuple[str, int], tuple[int, str]] = {}
    numbers = sorted({number for _, number, _, _ in ready})
    for start in range(0, len(numbers), 5000):
        stmt = select(PENALTY.c.id, PENALTY.c.decision_no, PENALTY.c.entity_id, PENALTY.c.content_hash).where(
            PENALTY.c.agency_id == agency_id, one_of(session, PENALTY.c.decision_no, numbers[start : start + 5000])
        )
        for row_id, found_no, entity_id, digest in session.execute(stmt).all():
            existing[(found_no, entity_id)] = (row_id, digest)

    # the columns past STORED_FIELDS, the same for every row but the entity and the digest
    if session.get_bind().dialect.name == "postgresql":
        delivered_on, stamp = today, now  # COPY takes Python values as they are
    else:
        delivered_on, stamp = _TAIL_ENCODE([today, now])
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[int, dict[str, Any], str]] = []
    for record, number, entity_id, plain in ready:
        digest = record.digest
        found = existing.get((number, entity_id))
        if found is None:
            inserts.append(
                (*plain, agency_id, entity_id, digest, delivered_on, "active", batch_id, batch_id, stamp, stamp)
            )
            result.entity_ids.add(entity_id)
        elif found[1] == digest:
            result.unchanged += 1
        else:
            updates.append((found[0], _values(record, plain), digest))
            result.entity_ids.add(entity_id)
    if inserts:
        insert_plain(session, PENALTY, _INSERT_FIELDS, inserts)
        result.inserted = len(inserts)
    if updates:
        _apply_updates(session, updates, batch_id, now)
        result.updated = len(updates)
    return result


def _values(record: DecisionRecord, plain: Any) -> dict[str, Any]:
    """A record's values: its own, or decoded from its stored values."""
    return record.values if record.values is not None else values_of(plain)


_INSERT_FIELDS = (
    *STORED_FIELDS,
    *("agency_id", "entity_id", "content_hash", "delivered_on", "status", "first_batch_id", "last_batch_id"),
    *("delivered_at", "updated_at"),
)
_TAIL_ENCODE = plain_codec(PENALTY, ("delivered_on", "delivered_at"))[0]


def _apply_updates(
    session: Session, updates: list[tuple[int, dict[str, Any], str]], batch_id: int | None, now: datetime
) -> None:
    ids = [u[0] for u in updates]
    previous: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 900):
        stmt = select(PENALTY).where(PENALTY.c.id.in_(ids[start : start + 900]))
        for row in session.execute(stmt).mappings().all():
            previous[row["id"]] = dict(row)
    bulk_insert(
        session,
        HISTORY,
        [
            {
                "decision_id": decision_id,
                "batch_id": batch_id,
                "changed_at": now,
                "change": "update",
                "reason": None,
                "previous": {f: _jsonable(previous[decision_id][f]) for f in CONTENT_FIELDS},
                "previous_hash": previous[decision_id]["content_hash"],
            }
            for decision_id, _values, _digest in updates
        ],
    )
    change = (
        update(PENALTY)
        .where(PENALTY.c.id == bindparam("row_id"))
        .values(
            {f: bindparam(f"v_{f}") for f in (*CONTENT_FIELDS, *WINDOW_FIELDS)}
            | {"content_hash": bindparam("v_hash"), "last_batch_id": bindparam("v_batch"), "updated_at": now}
        )
    )
    session.execute(
        change,
        [
            {"row_id": decision_id, "v_hash": digest, "v_batch": batch_id}
            | {f"v_{f}": values.get(f) for f in CONTENT_FIELDS}
            | {f"v_{k}": v for k, v in _window_columns(values, _delivered_on(previous[decision_id])).items()}
            for decision_id, values, digest in updates
        ],
    )
    from registry.listings import LINK  # listings build on penalties

    moved = [
        {"d_id": decision_id, "d_date": values["decision_date"]}
        for decision_id, values, _digest in updates
        if values["decision_date"] != previous[decision_id]["decision_date"]
    ]
    if moved:  # the copy a listing's link keeps of the date (what a check shows) follows it
        session.execute(
            update(LINK).where(LINK.c.decision_id == bindparam("d_id")).values(decision_date=bindparam("d_date")),
            moved,
        )


def history_of(*, session: Session, decision_id: int) -> list[PenaltyDecisionHistory]:
    """Every earlier version of a decision, oldest first."""
    stmt = select(PenaltyDecisionHistory).where(PenaltyDecisionHistory.decision_id == decision_id)
    return list(session.exec(stmt.order_by(col(PenaltyDecisionHistory.id))).all())


def revoke_decision(
    *, session: Session, decision_id: int, agency_id: int, reason: str, actor: str = "system"
) -> PenaltyDecision:
    """Mark a decision revoked (撤销) with reason and time. Only the delivering agency may;
    a revoked decision leaves every public output at once and stays in history, and listings
    resting on it are rechecked in the same transaction (``registry.listings``)."""
    reason = required_text(reason, field="reason", what="a revocation needs a reason")
    decision = session.get(PenaltyDecision, decision_id)
    if decision is None:
        raise NotFound(f"no penalty decision with id {decision_id}", code="not_found")
    if decision.agency_id != agency_id:
        raise PermissionDenied("an agency may only revoke its own decisions", code="not_own_decision")
    if decision.status == "revoked":
        raise Conflict(f"decision {decision.decision_no} was already revoked", code="already_revoked")
    now = clock.now()
    session.add(
        PenaltyDecisionHistory(
            decision_id=decision_id,
            changed_at=now,
            change="revoke",
            reason=reason,
            previous={f: _jsonable(getattr(decision, f)) for f in CONTENT_FIELDS} | {"status": decision.status},
            previous_hash=decision.content_hash,
        )
    )
    decision.status = "revoked"
    decision.revoked_at = now
    decision.revoked_reason = reason
    decision.updated_at = now
    session.add(decision)
    session.flush()
    from registry.listings import on_decision_revoked  # listings build on penalties

    on_decision_revoked(session=session, decision_id=decision_id, actor=actor)
    return decision


def find_by_number(*, session: Session, agency_id: int, decision_no: str) -> list[PenaltyDecision]:
    """The decisions of an agency with this number (several in a joint case)."""
    stmt = select(PenaltyDecision).where(
        PenaltyDecision.agency_id == agency_id, PenaltyDecision.decision_no == decision_no.strip()
    )
    return list(session.exec(stmt.order_by(col(PenaltyDecision.id))).all())


def timeliness(*, session: Session, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """Per delivering agency and month of decision: decisions delivered, delivered within the
    deadline, late, and the on-time share (the key 双公示 statistic; the target is 100%)."""
    from registry.agencies import Agency

    agency = Agency.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    month = (
        func.to_char(PENALTY.c.decision_date, "YYYY-MM")
        if dialect == "postgresql"
        else func.strftime("%Y-%m", PENALTY.c.decision_date)
    ).label("month")
    on_time = func.sum(case((PENALTY.c.delivered_on <= PENALTY.c.publish_deadline, 1), else_=0)).label("on_time")
    stmt = (
        select(agency.c.code, month, func.count().label("delivered"), on_time)
        .select_from(PENALTY.join(agency, agency.c.id == PENALTY.c.agency_id))
        .group_by(agency.c.code, month)
        .order_by(agency.c.code, month)
    )
    if since:
        stmt = stmt.where(PENALTY.c.decision_date >= since)
    if until:
        stmt = stmt.where(PENALTY.c.decision_date <= until)
    out = []
    for code, month_text, delivered, in_time in session.execute(stmt).all():
        in_time = int(in_time or 0)
        out.append(
            {
                "agency": code,
                "month": month_text,
                "delivered": int(delivered),
                "on_time": in_time,
                "late": int(delivered) - in_time,
                "on_time_share": round(in_time / delivered, 4) if delivered else None,
            }
        )
    return out


def _cst_day(column: Any, dialect: str) -> Any:
    """A UTC timestamp column as its calendar day in China."""
    if dialect == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", column))
    return func.date(column, "+8 hours")


def changes(*, session: Session, since: date | None, until: date) -> list[dict[str, Any]]:
    """What entered, changed in or left publication on the days after ``since`` up to and
    including ``until``, derived from the stored windows, so a mirror applying them in order
    holds exactly what is published on ``until``. Entries: ``change`` (ADD, MOD, DEL),
    ``reason`` for DEL (period_ended, revoked, repaired), ``on`` (the day), ``decision_id``."""
    dialect = session.get_bind().dialect.name
    start = since or date(1900, 1, 1)
    revoked_on = _cst_day(PENALTY.c.revoked_at, dialect)
    updated_on = _cst_day(PENALTY.c.updated_at, dialect)
    published_class = PENALTY.c.pub_published.is_(True)
    was_ever_published = and_(
        published_class,
        PENALTY.c.pub_from < PENALTY.c.pub_latest_end,
        or_(PENALTY.c.status == "active", revoked_on > PENALTY.c.pub_from),
    )
    out: list[dict[str, Any]] = []
    adds = select(PENALTY.c.id, PENALTY.c.pub_from).where(
        was_ever_published, PENALTY.c.pub_from > start, PENALTY.c.pub_from <= until
    )
    out += [{"change": "ADD", "reason": None, "on": day, "decision_id": i} for i, day in session.execute(adds).all()]
    not_repaired_before_end = or_(PENALTY.c.repaired_on.is_(None), PENALTY.c.repaired_on >= PENALTY.c.pub_latest_end)
    ended = select(PENALTY.c.id, PENALTY.c.pub_latest_end).where(
        was_ever_published, PENALTY.c.status == "active", PENALTY.c.pub_latest_end > start,
        PENALTY.c.pub_latest_end <= until, not_repaired_before_end,
    )  # fmt: skip
    out += [
        {"change": "DEL", "reason": "period_ended", "on": d, "decision_id": i} for i, d in session.execute(ended).all()
    ]
    revoked = select(PENALTY.c.id, revoked_on).where(
        was_ever_published, PENALTY.c.status == "revoked", revoked_on > start, revoked_on <= until,
        revoked_on < PENALTY.c.pub_latest_end, or_(PENALTY.c.repaired_on.is_(None), PENALTY.c.repaired_on > revoked_on),
    )  # fmt: skip
    out += [
        {"change": "DEL", "reason": "revoked", "on": as_date(d), "decision_id": i}
        for i, d in session.execute(revoked).all()
    ]
    repaired = select(PENALTY.c.id, PENALTY.c.repaired_on).where(
        was_ever_published, PENALTY.c.status == "active", PENALTY.c.repaired_on > start,
        PENALTY.c.repaired_on <= until, PENALTY.c.repaired_on < PENALTY.c.pub_latest_end,
    )  # fmt: skip
    out += [
        {"change": "DEL", "reason": "repaired", "on": d, "decision_id": i} for i, d in session.execute(repaired).all()
    ]
    modified = select(PENALTY.c.id, updated_on).where(
        published_on(until), PENALTY.c.pub_from <= start, updated_on > start, updated_on <= until,
        exists().where(HISTORY.c.decision_id == PENALTY.c.id, HISTORY.c.change == "update"),
    )  # fmt: skip
    out += [
        {"change": "MOD", "reason": None, "on": as_date(d), "decision_id": i}
        for i, d in session.execute(modified).all()
    ]
    order = {"ADD": 0, "MOD": 1, "DEL": 2}
    return sorted(out, key=lambda e: (e["on"], order[e["change"]], e["decision_id"]))
