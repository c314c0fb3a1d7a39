"""FastAPI dependencies: the database session and the principal behind a bearer key.

They are ``async`` on purpose. FastAPI runs every plain ``def`` dependency in the thread pool,
one hand-off each way per dependency; a check used to pay five of them (session in and out,
key, role, route) against one for a plain route. Creating a session does no I/O, a
remembered key needs none, and a role test is a comparison, so these run on the event loop
and go to the thread pool only when they must wait on the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from registry.access import Principal, authenticate, cached_principal, remember_principal
from registry.audit import record_event
from registry.errors import AuthenticationFailed, PermissionDenied


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request on the app's engine; routes commit what they change. Closing
    is pure bookkeeping once the route committed (or never queried); an open transaction is
    rolled back in the thread pool, since that waits on the database."""
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def _lookup(engine: Engine, raw_key: str) -> Principal:
    with Session(engine) as session:
        return authenticate(session=session, raw_key=raw_key)


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The principal of the request's bearer key; 401 without a key or with an unknown or
    revoked one. A key checked a moment ago is not read again (``XINYONG_KEY_CACHE_SECONDS``)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("an API key is required: send Authorization: Bearer <key>", code="no_key")
    engine: Engine = request.app.state.engine
    database = str(engine.url)
    ttl = request.app.state.settings.key_cache_seconds
    raw = credentials.credentials
    principal = cached_principal(database=database, raw_key=raw, ttl=ttl)
    if principal is None:
        principal = await run_in_threadpool(_lookup, engine, raw)
        if ttl > 0:
            remember_principal(database=database, raw_key=raw, principal=principal)
    return principal


def _audit_refusal(engine: Engine, principal: Principal, route: str, roles: tuple[str, ...]) -> None:
    with Session(engine) as session:
        record_event(session=session, principal=principal, action=route, outcome="denied", detail={"needs": roles})
        session.commit()


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only the given roles; others get 403, and the refusal is audited."""

    async def dependency(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            route = f"{request.method} {request.url.path}"
            await run_in_threadpool(_audit_refusal, request.app.state.engine, principal, route, roles)
            raise PermissionDenied(
                f"a {principal.role} key may not use this route; it needs a key with role {' or '.join(roles)}",
                code="forbidden",
            )
        return principal

    return dependency


AnyPrincipal = Annotated[Principal, Depends(get_principal)]
Admin = Annotated[Principal, Depends(require("admin"))]
AgencyPrincipal = Annotated[Principal, Depends(require("agency"))]
