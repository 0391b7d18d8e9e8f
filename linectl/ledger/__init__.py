"""The line's SQLite ledger: serial pool and OPEN-SCS states, units, containers, outbox, audit.

``Verdict`` here is :class:`drivers.interfaces.Verdict` (the line has one verdict enum); the
ledger stores GOOD and REJECT as the text ``verdict_text`` gives.
"""

from drivers.interfaces import Verdict
from linectl.ledger.audit import AuditEntry, AuditReport, verify_audit
from linectl.ledger.errors import (
    AmbiguousSerial,
    ContainerError,
    DuplicateEvent,
    DuplicateSerial,
    EncodedSerialsRemain,
    IllegalTransition,
    LedgerError,
    LedgerUnavailable,
    MaterialsChanged,
    MigrationFailed,
    SchemaTooNew,
    UnknownSerial,
    UnknownWorkOrder,
    ValidationError,
    ValidationErrors,
    WorkOrderExists,
    WorkOrderStateError,
)
from linectl.ledger.markings import WorkOrderCode, checked_code
from linectl.ledger.migrations import MIGRATIONS, SCHEMA_VERSION
from linectl.ledger.models import (
    Container,
    ContainerContents,
    ContainerLevel,
    ContainerState,
    Delivery,
    HistoryEntry,
    OutboxEntry,
    OutboxEvent,
    SerialTrace,
    Unit,
    UnitResult,
    UnitTag,
    WorkOrder,
    WorkOrderStatus,
    verdict_of,
    verdict_text,
)
from linectl.ledger.products import Product, ProductRowError, UnknownProduct
from linectl.ledger.reconcile import BUCKET_OF, Bucket, Reconciliation
from linectl.ledger.states import TERMINAL, TRANSITIONS, SerialState, is_legal
from linectl.ledger.store import Ledger
from linectl.ledger.validation import LineNote

__all__ = [
    "BUCKET_OF",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TERMINAL",
    "TRANSITIONS",
    "AmbiguousSerial",
    "AuditEntry",
    "AuditReport",
    "Bucket",
    "Container",
    "ContainerContents",
    "ContainerError",
    "ContainerLevel",
    "ContainerState",
    "Delivery",
    "DuplicateEvent",
    "DuplicateSerial",
    "EncodedSerialsRemain",
    "HistoryEntry",
    "IllegalTransition",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "LineNote",
    "MaterialsChanged",
    "MigrationFailed",
    "OutboxEntry",
    "OutboxEvent",
    "Product",
    "ProductRowError",
    "Reconciliation",
    "SchemaTooNew",
    "SerialState",
    "SerialTrace",
    "Unit",
    "UnitResult",
    "UnitTag",
    "UnknownProduct",
    "UnknownSerial",
    "UnknownWorkOrder",
    "ValidationError",
    "ValidationErrors",
    "Verdict",
    "WorkOrder",
    "WorkOrderCode",
    "WorkOrderExists",
    "WorkOrderStateError",
    "WorkOrderStatus",
    "checked_code",
    "is_legal",
    "verdict_of",
    "verdict_text",
    "verify_audit",
]
