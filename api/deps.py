"""FastAPI dependencies: the database session and the principal behind a bearer key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from registry.access import Principal, authenticate
from registry.audit import record_event
from registry.errors import AuthenticationFailed, PermissionDenied


def get_session(request: Request) -> Iterator[Session]:
    """One session per request on the app's engine; routes commit what they change."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def get_principal(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The principal of the request's bearer key; 401 without a key or with an unknown or
    revoked one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("an API key is required: send Authorization: Bearer <key>", code="no_key")
    return authenticate(session=session, raw_key=credentials.credentials)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only the given roles; others get 403, and the refusal is audited."""

    def dependency(
        request: Request, session: SessionDep, principal: Annotated[Principal, Depends(get_principal)]
    ) -> Principal:
        if principal.role not in roles:
            record_event(
                session=session,
                principal=principal,
                action=f"{request.method} {request.url.path}",
                outcome="denied",
                detail={"needs": list(roles)},
            )
            session.commit()
            raise PermissionDenied(
                f"a {principal.role} key may not use this route; it needs a key with role {' or '.join(roles)}",
                code="forbidden",
            )
        return principal

    return dependency


AnyPrincipal = Annotated[Principal, Depends(get_principal)]
Admin = Annotated[Principal, Depends(require("admin"))]
AgencyPrincipal = Annotated[Principal, Depends(require("agency"))]
