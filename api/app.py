"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI, Request
from sqlalchemy.engine import Engine
from starlette.responses import Response

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


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app on ``settings`` (default: the environment) and its database engine."""
    settings = settings or get_settings()
    app = FastAPI(title="xinyong 信用 registry", version="0.1.0", description=DESCRIPTION)
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings.database_url, settings.sql_echo)
    problems.install(app)
    app.include_router(public.router)
    app.include_router(admin.router)
    app.include_router(penalties.router)
    app.include_router(open_data.router)
    app.include_router(listings.router)
    app.include_router(checks.router)
    app.include_router(report.router)
    app.include_router(repair.router)
    _limit_uploads(app, settings.upload_limit_mb)
    install_log_redaction()
    return app


def _limit_uploads(app: FastAPI, limit_mb: int) -> None:
    """Refuse a body whose declared length is over the limit before reading it (413)."""
    limit = limit_mb * 1024 * 1024

    @app.middleware("http")
    async def _check_length(request: Request, call_next):  # type: ignore[no-untyped-def]
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return problems.problem(
                413,
                f"the request body is larger than the limit of {limit_mb} MiB (XINYONG_UPLOAD_LIMIT_MB); "
                "split the delivery into smaller files",
                code="payload_too_large",
            )
        response: Response = await call_next(request)
        return response
