"""The policy: publication classes and periods (and, as later issues add them, blacklist
rules, sanction measures and windows), read from ``registry/data/policy.toml`` and overridden
by the file ``XINYONG_POLICY`` names. Data, not code: no Chinese string is decided here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from registry.config import get_settings
from registry.errors import ValidationFailed


@dataclass(frozen=True)
class PublicationClass:
    """One class of penalty information (轻微 / 一般 / 严重) and its periods."""

    id: str
    label: str
    rank: int
    published: bool
    min_months: int
    max_months: int
    penalty_types: frozenset[str]
    default: bool = False


@dataclass(frozen=True)
class PublicationPolicy:
    """How penalty decisions are published."""

    classes: tuple[PublicationClass, ...]
    deadline_working_days: int
    never_early: frozenset[str]

    def by_id(self, class_id: str) -> PublicationClass:
        """The class with this id."""
        return next(c for c in self.classes if c.id == class_id)

    def classify(self, penalty_types: Iterable[str], *, listed: bool = False) -> PublicationClass:
        """The class of a decision: the most serious class among its penalty types; a decision
        that led to a listing is in the most serious class."""
        ranked = sorted(self.classes, key=lambda c: c.rank)
        if listed:
            return ranked[-1]
        default = next(c for c in ranked if c.default)
        found = [next((c for c in ranked if t in c.penalty_types), default) for t in penalty_types]
        return max(found, key=lambda c: c.rank) if found else default

    def can_end_early(self, penalty_types: Iterable[str]) -> bool:
        """False when any penalty type can never end publication early (credit repair)."""
        return not (set(penalty_types) & self.never_early)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_policy_data(path: Path | None) -> dict[str, Any]:
    """The shipped policy, with the file at ``path`` (if any) merged over it table by table."""
    with resources.files("registry").joinpath("data/policy.toml").open("rb") as fh:
        data = tomllib.load(fh)
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = _merge(data, tomllib.load(fh))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValidationFailed(f"XINYONG_POLICY {path}: cannot be read as TOML: {exc}", code="policy") from exc
    return data


@lru_cache(maxsize=4)
def _publication(path: Path | None) -> PublicationPolicy:
    data = load_policy_data(path)["publication"]
    try:
        classes = tuple(
            PublicationClass(
                id=class_id,
                label=spec["label"],
                rank=int(spec["rank"]),
                published=bool(spec["published"]),
                min_months=int(spec["min_months"]),
                max_months=int(spec["max_months"]),
                penalty_types=frozenset(spec.get("penalty_types", [])),
                default=bool(spec.get("default", False)),
            )
            for class_id, spec in data["classes"].items()
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"the publication policy is incomplete or malformed: {exc!r}", code="policy") from exc
    if sum(c.default for c in classes) != 1:
        raise ValidationFailed("the publication policy needs exactly one class with default = true", code="policy")
    bad = [c.id for c in classes if not 0 <= c.min_months <= c.max_months]
    if bad:
        raise ValidationFailed(f"publication classes {bad}: need 0 <= min_months <= max_months", code="policy")
    return PublicationPolicy(classes, int(data["deadline_working_days"]), frozenset(data.get("never_early", [])))


def publication_policy() -> PublicationPolicy:
    """The publication policy in force (shipped defaults, overridden by XINYONG_POLICY)."""
    return _publication(get_settings().policy)


@dataclass(frozen=True)
class BlacklistRule:
    """One listing rule, of the single shape the policy file describes (see its comments):
    which decisions qualify, and on how many different dates they must fall."""

    id: str
    title: str
    basis: str
    violation_types: frozenset[str]
    min_count: int
    window_months: int
    deliberate: bool = False
    penalty_types: frozenset[str] = frozenset()
    min_fine_wan: Decimal | None = None


@dataclass(frozen=True)
class BlacklistPolicy:
    """The blacklist rules (in the order they are tried) and the due-process periods."""

    rules: tuple[BlacklistRule, ...]
    objection_working_days: int
    listing_months: int
    repair_after_months: int
    notice: str

    def rule(self, rule_id: str) -> BlacklistRule | None:
        """The rule with this id, or None when the policy no longer has it."""
        return next((r for r in self.rules if r.id == rule_id), None)


def _named_set(value: Any, sets: dict[str, list[str]], where: str) -> frozenset[str]:
    """A list given inline or by the name of a list under ``[blacklist.sets]``."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        if value not in sets:
            raise ValidationFailed(f"{where}: no list named {value!r} under [blacklist.sets]", code="policy")
        return frozenset(sets[value])
    return frozenset(str(v) for v in value)


@lru_cache(maxsize=4)
def _blacklist(path: Path | None) -> BlacklistPolicy:
    data = load_policy_data(path)["blacklist"]
    sets = data.get("sets", {})
    rules = []
    try:
        for spec in data["rules"]:
            where = f"blacklist rule {spec.get('id')!r}"
            fine = spec.get("min_fine_wan")
            rules.append(
                BlacklistRule(
                    id=str(spec["id"]),
                    title=str(spec["title"]),
                    basis=str(spec["basis"]),
                    violation_types=_named_set(spec["violation_types"], sets, where),
                    min_count=int(spec.get("min_count", 1)),
                    window_months=int(spec["window_months"]),
                    deliberate=bool(spec.get("deliberate", False)),
                    penalty_types=_named_set(spec.get("penalty_types"), sets, where),
                    min_fine_wan=None if fine is None else Decimal(str(fine)),
                )
            )
        policy = BlacklistPolicy(
            rules=tuple(rules),
            objection_working_days=int(data["objection_working_days"]),
            listing_months=int(data["listing_months"]),
            repair_after_months=int(data["repair_after_months"]),
            notice=str(data["notice"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise ValidationFailed(f"the blacklist policy is incomplete or malformed: {exc!r}", code="policy") from exc
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise ValidationFailed(f"blacklist rule ids must be unique: {ids}", code="policy")
    bad = [r.id for r in rules if r.min_count < 1 or r.window_months < 1 or not r.violation_types]
    if bad:
        raise ValidationFailed(
            f"blacklist rules {bad}: need min_count >= 1, window_months >= 1 and violation types", code="policy"
        )
    return policy


def blacklist_policy() -> BlacklistPolicy:
    """The blacklist rules and periods in force (shipped defaults, overridden by XINYONG_POLICY)."""
    return _blacklist(get_settings().policy)


@dataclass(frozen=True)
class Measure:
    """One joint-sanction measure: where it bites (``action``), who applies it, its basis, and
    the blacklist rules that trigger it (``None``: every rule)."""

    code: str
    name: str
    action: str
    applied_by: str
    basis: str
    rules: frozenset[str] | None

    def triggered_by(self, rule_id: str) -> bool:
        """Whether a listing under ``rule_id`` triggers this measure."""
        return self.rules is None or rule_id in self.rules


@dataclass(frozen=True)
class SanctionsPolicy:
    """The measures catalogue: the only measures a check can return."""

    actions: tuple[str, ...]
    measures: tuple[Measure, ...]

    def for_action(self, action: str) -> tuple[Measure, ...]:
        """The measures that bite at ``action``."""
        return tuple(m for m in self.measures if m.action == action)


@lru_cache(maxsize=4)
def _sanctions(path: Path | None) -> SanctionsPolicy:
    data = load_policy_data(path)["sanctions"]
    try:
        actions = tuple(str(a) for a in data["actions"])
        measures = tuple(
            Measure(
                code=str(spec["code"]),
                name=str(spec["name"]),
                action=str(spec["action"]),
                applied_by=str(spec["applied_by"]),
                basis=str(spec["basis"]),
                rules=None if spec.get("rules", "*") == "*" else frozenset(str(r) for r in spec["rules"]),
            )
            for spec in data["measures"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"the sanctions policy is incomplete or malformed: {exc!r}", code="policy") from exc
    bad = [m.code for m in measures if m.action not in actions]
    if bad:
        raise ValidationFailed(f"measures {bad} name an action that is not in sanctions.actions", code="policy")
    codes = [m.code for m in measures]
    if len(set(codes)) != len(codes):
        raise ValidationFailed(f"measure codes must be unique: {codes}", code="policy")
    return SanctionsPolicy(actions, measures)


def sanctions_policy() -> SanctionsPolicy:
    """The measures catalogue in force (shipped defaults, overridden by XINYONG_POLICY)."""
    return _sanctions(get_settings().policy)


@dataclass(frozen=True)
class RepairPolicy:
    """Deadlines and evidence for credit repair and objections."""

    repair_working_days: int
    evidence: tuple[str, ...]
    objection_working_days: int
    objection_kinds: tuple[str, ...]


@lru_cache(maxsize=4)
def _repair(path: Path | None) -> RepairPolicy:
    data = load_policy_data(path)
    try:
        return RepairPolicy(
            repair_working_days=int(data["repair"]["processing_working_days"]),
            evidence=tuple(str(e) for e in data["repair"]["evidence"]),
            objection_working_days=int(data["objections"]["processing_working_days"]),
            objection_kinds=tuple(str(k) for k in data["objections"]["kinds"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"the repair policy is incomplete or malformed: {exc!r}", code="policy") from exc


def repair_policy() -> RepairPolicy:
    """Repair and objection settings in force (shipped defaults, overridden by XINYONG_POLICY)."""
    return _repair(get_settings().policy)


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day (2024-01-31 + 1 → 2024-02-29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover
