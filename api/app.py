"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from api import problems
from api.routers import admin, public
from registry.config import Settings, get_settings
from registry.db import get_engine
from registry.privacy import install_log_redaction

DESCRIPTION = """
信用 xinyong: the credit blacklist and joint-sanctions registry.

- Public routes (no key): identifier validation, entity profiles.
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
    install_log_redaction()
    return app
