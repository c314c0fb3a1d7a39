"""Domain exceptions: each carries a stable code and a human message.

The API turns them into RFC 9457 problem+json through one handler table (``api.problems``);
the CLI prints their message on one line and exits 1.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def required_text(value: str | None, *, field: str, what: str) -> str:
    """``value`` stripped; :class:`ValidationFailed` naming ``field`` when it is blank
    (``what`` says whose text it is: "a decision needs a reason")."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"{field}: {what}", code="required", errors=[FieldError(field, "required", "required")])
    return text


def require_choice(value: str, choices: Sequence[str], *, field: str, code: str = "invalid") -> str:
    """``value`` when it is one of ``choices``; otherwise :class:`ValidationFailed` naming
    the field, the value and the choices."""
    if value not in choices:
        listed = ", ".join(choices)
        raise ValidationFailed(
            f"{field}: {value!r} is not one of {listed}",
            code=code,
            errors=[FieldError(field, code, f"one of {listed}", value)],
        )
    return value
