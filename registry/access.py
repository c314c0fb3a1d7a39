"""API keys and the principals they stand for.

A key is shown once, when created; the database keeps only its SHA-256 digest (a key is 240
random bits, so a fast digest is enough: there is nothing to brute-force) and a short prefix
by which staff can name it. Roles: ``agency`` (bound to one agency), ``bank``, ``admin``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, Session, SQLModel, col, select

from registry import clock
from registry.agencies import Agency, get_agency
from registry.db import NAMING_CONVENTION  # noqa: F401
from registry.errors import AuthenticationFailed, Conflict, FieldError, NotFound, ValidationFailed

ROLES = ("agency", "bank", "admin")
KEY_PREFIX = "xy_"
PREFIX_LEN = len(KEY_PREFIX) + 8


class ApiKey(SQLModel, table=True):
    """A hashed API key with its role and, for agency keys, its agency."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    agency_id: int | None = Field(default=None, foreign_key="agency.id", index=True)
    name: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Principal:
    """Who is asking: the key's prefix, role and (for agency keys) agency."""

    key_id: int
    prefix: str
    role: str
    agency_id: int | None = None
    agency_code: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """How the audit log names this principal (never the key itself)."""
        who = f"{self.role}:{self.agency_code}" if self.agency_code else self.role
        return f"{who}/key:{self.prefix}"


def hash_key(raw: str) -> str:
    """The stored digest of a raw key."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def create_key(
    *, session: Session, role: str, agency_code: str | None = None, name: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the stored row and the raw key, which is never stored or shown again."""
    if role not in ROLES:
        raise ValidationFailed(
            f"role: {role!r} is not one of {', '.join(ROLES)}",
            code="role",
            errors=[FieldError("role", "role", f"one of {', '.join(ROLES)}", role)],
        )
    agency: Agency | None = None
    if role == "agency":
        if not agency_code:
            raise ValidationFailed(
                "agency: an agency key needs --agency CODE",
                code="required",
                errors=[FieldError("agency", "required", "agency keys are bound to one agency")],
            )
        agency = get_agency(session=session, code=agency_code)
    elif agency_code:
        raise ValidationFailed(
            f"agency: a {role} key is not bound to an agency; drop --agency",
            code="agency_not_allowed",
            errors=[FieldError("agency", "agency_not_allowed", "only agency keys name an agency", agency_code)],
        )
    while True:
        raw = KEY_PREFIX + secrets.token_urlsafe(30)
        prefix = raw[:PREFIX_LEN]
        clash = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        if clash is None:
            break
    key = ApiKey(
        prefix=prefix,
        key_hash=hash_key(raw),
        role=role,
        agency_id=agency.id if agency else None,
        name=name,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    return key, raw


def revoke_key(*, session: Session, prefix: str) -> ApiKey:
    """Revoke a key by its prefix (the first 11 characters, as ``key list`` shows them)."""
    key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix.strip()[:PREFIX_LEN])).first()
    if key is None:
        raise NotFound(f"no key with prefix {prefix!r}; `xinyong key list` shows them", code="unknown_key")
    if key.revoked_at is not None:
        raise Conflict(f"key {key.prefix} was already revoked at {key.revoked_at:%Y-%m-%d %H:%M}", code="key_revoked")
    key.revoked_at = clock.now()
    session.add(key)
    session.flush()
    forget_keys()
    return key


def list_keys(*, session: Session) -> list[tuple[ApiKey, str | None]]:
    """Every key with its agency code, newest first."""
    stmt = (
        select(ApiKey, Agency.code)
        .join(Agency, col(ApiKey.agency_id) == col(Agency.id), isouter=True)
        .order_by(col(ApiKey.id).desc())
    )
    return [(k, code) for k, code in session.exec(stmt).all()]


def authenticate(*, session: Session, raw_key: str) -> Principal:
    """The principal a raw bearer key stands for; :class:`AuthenticationFailed` for an unknown
    or revoked key. The message never repeats the key."""
    if not raw_key:
        raise AuthenticationFailed("an API key is required: send Authorization: Bearer <key>", code="no_key")
    stmt = (
        select(ApiKey, Agency.code)
        .join(Agency, col(ApiKey.agency_id) == col(Agency.id), isouter=True)
        .where(ApiKey.key_hash == hash_key(raw_key.strip()))
    )
    row = session.exec(stmt).first()
    if row is None:
        raise AuthenticationFailed("the API key is not known", code="unknown_key")
    key, agency_code = row
    if key.revoked_at is not None:
        raise AuthenticationFailed("the API key has been revoked", code="revoked_key")
    assert key.id is not None
    return Principal(
        key_id=key.id,
        prefix=key.prefix,
        role=key.role,
        agency_id=key.agency_id,
        agency_code=agency_code,
        name=key.name,
    )


class _RecentKeys:
    """Principals of keys checked in the last few seconds, by database and key digest.

    Every authenticated request used to read ``api_key`` first; a server answering thousands
    of checks a second asks about the same few keys over and over. Only known, unrevoked keys
    are kept (an unknown key is looked up every time), for ``XINYONG_KEY_CACHE_SECONDS``:
    a revocation in this process applies at once (:func:`revoke_key` clears the cache), one
    made by another process (``xinyong key revoke``) within that time.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, Principal]] = {}
        self._limit = limit

    def get(self, database: str, digest: str, ttl: float) -> Principal | None:
        entry = self._entries.get((database, digest))
        if entry is None or time.monotonic() - entry[0] > ttl:
            return None
        return entry[1]

    def put(self, database: str, digest: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[(database, digest)] = (time.monotonic(), principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_RECENT = _RecentKeys()


def forget_keys() -> None:
    """Drop every remembered key, so the next request of each is looked up again."""
    _RECENT.clear()


def cached_principal(*, database: str, raw_key: str, ttl: float) -> Principal | None:
    """The principal of a key checked less than ``ttl`` seconds ago against ``database``, if any."""
    if ttl <= 0 or not raw_key:
        return None
    return _RECENT.get(database, hash_key(raw_key.strip()), ttl)


def remember_principal(*, database: str, raw_key: str, principal: Principal) -> None:
    """Keep a key just authenticated against ``database`` (see :class:`_RecentKeys`)."""
    _RECENT.put(database, hash_key(raw_key.strip()), principal)
