"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

import registry.models  # noqa: F401  (every table mapped before the first query)
from api import problems
from api.routers import admin, checks, listings, open_data, penalties, public, repair, report
from registry.config import Settings, get_settings
from registry.db import get_engine
from registry.privacy import install_log_redaction

DESCRIPTION = """
信用 xinyong: the credit blacklist and joint-sanctions registry.

- Public routes (no key): identifier validation, entity search and profiles, published
  penalties, the blacklist, open-data downloads and the change feed.
- Agency, bank and admin routes take `Authorization: Bearer <key>` (`xinyong key create`).
- Errors are `application/problem+json` with `type`, `title`, `status`, `detail`, `errors`.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, close the connections the app opened for itself (the checks' never-waiting
    SQLite engine, or their autocommit PostgreSQL engine); the main engine belongs to whoever
    made it."""
    yield
    connection = getattr(app.state, "loop_connection", None)
    if connection is not None:
        connection.close()
    for name in ("nonblocking_engine", "check_engine"):
        engine = getattr(app.state, name, None)
        if engine is not None:
            engine.dispose()


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app on ``settings`` (default: the environment) and its database engine."""
    settings = settings or get_settings()
    app = FastAPI(title="xinyong 信用 registry", version="0.1.0", description=DESCRIPTION, lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.database_url, settings.sql_echo)
    problems.install(app)
    # Requests are matched against the routers in this order, route by route: the checks, the
    # hot path of agencies and banks, come right after the public routes (no path overlaps)
    app.include_router(public.router)
    app.include_router(checks.router)
    app.include_router(admin.router)
    app.include_router(penalties.router)
    app.include_router(open_data.router)
    app.include_router(listings.router)
    app.include_router(report.router)
    app.include_router(repair.router)
    app.add_middleware(UploadLimit, limit_mb=settings.upload_limit_mb)
    install_log_redaction()
    return app


class UploadLimit:
    """Refuse a body whose declared length is over the limit before reading it (413).

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` wraps every request and
    response in extra tasks and streams, which cost more than many routes themselves."""

    def __init__(self, app: ASGIApp, limit_mb: int) -> None:
        self.app = app
        self.limit_mb = limit_mb
        self.limit = limit_mb * 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 at once for an oversized declared body; pass everything else through."""
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                    response = problems.problem(
                        413,
                        f"the request body is larger than the limit of {self.limit_mb} MiB "
                        "(XINYONG_UPLOAD_LIMIT_MB); split the delivery into smaller files",
                        code="payload_too_large",
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
