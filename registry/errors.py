"""Domain exceptions: each carries a stable code and a human message.

The API turns them into RFC 9457 problem+json through one handler table (``api.problems``);
the CLI prints their message on one line and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """One thing wrong with one field: which field, a stable code, a message, the value."""

    field: str
    code: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in problem+json ``errors``."""
        out: dict[str, Any] = {"field": self.field, "code": self.code, "message": self.message}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass
class DomainError(Exception):
    """Base of every error the registry raises on purpose."""

    message: str
    code: str = "error"
    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


class ValidationFailed(DomainError):
    """Input that breaks a rule of the domain (bad identifier, bad value)."""


class NotFound(DomainError):
    """The thing asked for does not exist."""


class Conflict(DomainError):
    """The request contradicts what the registry already holds."""


class AuthenticationFailed(DomainError):
    """No key, an unknown key, or a revoked key."""


class PermissionDenied(DomainError):
    """A known principal asked for something its role does not allow."""


class PayloadTooLarge(DomainError):
    """An upload above the configured limit."""


class SchemaNotReady(DomainError):
    """The database has no schema, or an old one: ``xinyong init`` mends it."""
