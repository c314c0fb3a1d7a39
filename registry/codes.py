"""Code tables of the penalty template (party types, penalty types, ID document types),
loaded from ``registry/data/codes.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Identifier schemes that name a natural person: never published, always masked.
PERSONAL_SCHEMES = frozenset(
    {"resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_perm_id", "other_id"}
)


@dataclass(frozen=True)
class CodeTables:
    """The code tables as lookups."""

    party_types: dict[str, str]
    penalty_types: tuple[str, ...]
    penalty_aliases: dict[str, str]
    id_types: dict[str, str]

    def penalty_type(self, raw: str) -> str | None:
        """The statutory penalty type ``raw`` names, or None when it names none."""
        if raw in self.penalty_types:
            return raw
        return self.penalty_aliases.get(raw)


@lru_cache(maxsize=1)
def code_tables() -> CodeTables:
    """The shipped code tables."""
    with resources.files("registry").joinpath("data/codes.toml").open("rb") as fh:
        data = tomllib.load(fh)
    return CodeTables(
        party_types=dict(data["party_types"]),
        penalty_types=tuple(data["penalty_types"]["known"]),
        penalty_aliases=dict(data["penalty_types"]["aliases"]),
        id_types=dict(data["id_types"]),
    )
