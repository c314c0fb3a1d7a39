"""Every table of the registry, imported in one place for Alembic and the test fixtures."""

from sqlmodel import SQLModel

from registry.access import ApiKey
from registry.agencies import Agency
from registry.audit import AuditEvent
from registry.batches import ImportBatch, ImportRejection
from registry.entities import Entity, EntityIdentifier, EntityName, EntityNameGram
from registry.listings import Listing, ListingDecision, ListingEvent
from registry.penalties import PenaltyDecision, PenaltyDecisionHistory
from registry.repair import RecordObjection, RepairApplication
from registry.sanctions import SanctionCheck

metadata = SQLModel.metadata

__all__ = [
    "Agency",
    "ApiKey",
    "AuditEvent",
    "Entity",
    "EntityIdentifier",
    "EntityName",
    "EntityNameGram",
    "ImportBatch",
    "ImportRejection",
    "Listing",
    "ListingDecision",
    "ListingEvent",
    "PenaltyDecision",
    "PenaltyDecisionHistory",
    "RecordObjection",
    "RepairApplication",
    "SanctionCheck",
    "metadata",
]
