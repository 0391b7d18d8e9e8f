"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): re-authentication, meaning, and a hash
of exactly what was signed, recorded with the signer's printed name and the time.

The signer re-enters the password (or binds to the directory) at the moment of signing; a
machine account cannot sign. Release of a batch needs a second person: whoever started or
closed the batch, or signed its close, cannot release it; and the batch must be closed, balance
and have no open alarm (refusal reasons ``batch-open``, ``not-balanced``, ``open-alarm``,
``second-person``, ``released-already``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict

from linectl.identity.accounts import Identity
from linectl.identity.errors import SignatureRefused
from linectl.identity.matrix import SIGNED_ACTIONS, Permission, Role
from linectl.identity.principal import Principal
from linectl.ledger import Reconciliation
from linectl.ledger.audit import audit_head as audit_head_row
from linectl.ledger.audit import canonical_json
from linectl.ledger.batch_commands import EventsFor, ReleaseBlocked
from linectl.ledger.identity_rows import IdentityRows, SignatureRow, UserRow

RELEASE = "batch.release"
CLOSE = "batch.close"


def record_sha256(record: object) -> str:
    """The SHA-256 of the canonical JSON of what is signed."""
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def audit_head_of(rows: IdentityRows) -> tuple[int, str] | None:
    """The audit chain head as the signing transaction sees it."""
    return audit_head_row(rows.conn)


class Signatures:
    """Signing on one ledger (through its :class:`Identity`)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def _refuse(
        self, by: Principal, action: str, message: str, reason: str = SignatureRefused.reason
    ) -> SignatureRefused:
        exc = SignatureRefused(message)
        exc.reason = reason
        self.identity.audit_refusal(by.name, action, exc)
        return exc

    def authenticate(self, by: Principal, password: str, action: str, meaning: str) -> UserRow:
        """Check the meaning and re-authenticate the signer; nothing is recorded yet."""
        meanings = SIGNED_ACTIONS.get(action)
        if meanings is None:
            raise ValueError(f"{action} is not a signed action")
        if meaning not in meanings:
            raise self._refuse(
                by,
                action,
                f"meaning {meaning!r} does not fit {action} (one of: {', '.join(meanings)})",
            )
        if by.role == Role.MACHINE:
            raise self._refuse(by, action, f"{by.name} is a machine account: only people sign")
        return self.identity.authenticate(by.name, password, purpose=f"signature {action}")

    def record(
        self,
        user: UserRow,
        action: str,
        meaning: str,
        subject: str,
        record: object,
        reason: str = "",
    ) -> SignatureRow:
        """Write the signature and its audit row in one transaction."""
        with self.identity.ledger.identity.write() as rows:
            return self._record_in(rows, user, action, meaning, subject, record, reason)

    @staticmethod
    def _record_in(
        rows: IdentityRows,
        user: UserRow,
        action: str,
        meaning: str,
        subject: str,
        record: object,
        reason: str,
    ) -> SignatureRow:
        """The signature and its audit row, in the caller's transaction."""
        digest = record_sha256(record)
        entry = rows.audit(
            user.name,
            f"{action}.signed",
            reason,
            None,
            {
                "subject": subject,
                "meaning": meaning,
                "record_sha256": digest,
                "printed_name": user.full_name,
            }
            | ({"batch": subject} if action.startswith("batch.") else {}),
        )
        return rows.insert_signature(user, meaning, action, subject, digest, entry.id)

    def sign(
        self,
        by: Principal,
        password: str,
        action: str,
        meaning: str,
        subject: str,
        record: object,
        reason: str = "",
    ) -> SignatureRow:
        """Authenticate and record in one call (when nothing else happens between)."""
        user = self.authenticate(by, password, action, meaning)
        return self.record(user, action, meaning, subject, record, reason)

    def of(self, subject: str, action: str | None = None) -> list[SignatureRow]:
        with self.identity.ledger.identity.read() as rows:
            return rows.signatures(action, subject)

    def release_batch(
        self,
        by: Principal,
        batch: str,
        password: str,
        meaning: str = "released",
        reason: str = "",
        *,
        events_for: EventsFor,
    ) -> SignatureRow:
        """QA releases a closed, balanced batch with no open alarm; refused for whoever started
        or closed it. The batch's commissioned units become Released and their events
        (``events_for``) are queued in the transaction that records the signature."""
        self.identity.require(by, Permission.BATCH_RELEASE, f"release batch {batch}")
        ledger = self.identity.ledger
        with ledger.identity.read() as rows:
            done = rows.signatures(RELEASE, batch)
            involved = rows.actors_of(batch, ("work_order.start", "work_order.close"))
            involved |= {s.user_name for s in rows.signatures(CLOSE, batch)}
        if done:
            raise self._refuse(
                by,
                RELEASE,
                f"batch {batch} was released already by {done[0].printed_name} "
                f"({done[0].user_name}) at {done[0].at}",
                "released-already",
            )
        blocked = ledger.batches.blocker(batch)
        if blocked is not None:
            raise self._refuse(by, RELEASE, blocked.message, blocked.reason)
        if by.name in involved:
            raise self._refuse(
                by,
                RELEASE,
                f"{by.name} started or closed batch {batch}: its release needs a second person",
                "second-person",
            )
        user = self.authenticate(by, password, RELEASE, meaning)
        order = ledger.get_work_order(batch)

        def sign(rows: IdentityRows, reconciliation: Reconciliation) -> SignatureRow:
            record = {
                "work_order": asdict(order),
                "reconciliation": reconciliation.to_json(),
                "audit_head": audit_head_of(rows),
            }
            return self._record_in(rows, user, RELEASE, meaning, batch, record, reason)

        try:
            _, signature = ledger.batches.release(
                batch, actor=by.name, reason=reason, events_for=events_for, sign=sign
            )
        except ReleaseBlocked as exc:  # changed between the check and the transaction
            raise self._refuse(by, RELEASE, exc.message, exc.reason) from None
        return signature
