"""What the HMI tells people: catalogue messages, translated only when they are shown.

A handler never builds a sentence: it names a catalogue message (:class:`Msg`, an id with its
values) and the page translates it into the user's language. The daemon's refusals arrive as
RFC 7807 problem documents in English; :func:`daemon_problem` turns their stable ``type`` (and
``reason``) into a catalogue message and keeps the daemon's own words only as the detail shown
apart, marked as the line's, never as the message itself. ``tests/hmi/test_messages.py`` fails
on any message id of this package that a catalogue lacks.
"""

from __future__ import annotations

from typing import Any, Union

from aiohttp import web
from babel.support import NullTranslations

from linectl.hmi import i18n

Value = Union[str, int, float, "Msg"]

KEYED = (
    "state", "command", "meaning", "problem", "alarm", "role", "reason", "status", "level",
    "rework",
)  # fmt: skip
"""Prefixes of keyed message ids (``state:HELD``): a stable code, translated for the screen."""

PROBLEMS = (
    # the control API's problem types (urn:linectl:problem:KIND)
    "bad-request", "unauthorized", "command-refused", "release-refused", "work-order-exists",
    "work-order-refused", "rework-refused", "no-alarm", "no-line", "internal-error", "not-found",
    "method-not-allowed", "request-entity-too-large", "permission-denied", "signature-refused",
    "signature-required", "policy", "refused", "login-refused",
    # the reasons of refused logins, signatures and releases
    "wrong-password", "unknown-user", "disabled", "locked", "machine-account",
    "password-expired", "directory", "no-role", "token-expired", "unknown-token",
    "second-person", "released-already", "batch-open", "not-balanced", "open-alarm",
    # the HMI's own: the daemon did not answer
    "daemon-unavailable",
)  # fmt: skip
"""Every problem the HMI explains in the user's language (``problem:KIND``)."""


ALARMS = (
    "camera-stream-errors", "case-diverted", "case-label", "consecutive-rejects", "device-lost",
    "gate-outcome-lost", "label-unconfirmed", "ledger", "packing", "plc-heartbeat-lost",
    "pool-low", "pool-refused", "pool-unreachable", "print-queue-dry", "printer-fault",
    "printer-not-cleared", "recovery", "reject-unconfirmed", "serial-return-refused", "starved",
    "task-failed", "unverified-pass", "uplink-task-failed",
)  # fmt: skip
"""Every alarm the line raises (``device-lost:NAME`` as ``device-lost``), titled in the user's
language (``alarm:CODE``); the daemon's message, which names the particulars, is shown below.
``tests/hmi/test_messages.py`` checks this list against the alarms the line's code raises."""


def alarm_kind(code: object) -> str:
    """The catalogue key of an alarm code: ``device-lost:printer`` -> ``device-lost``."""
    return str(code).split(":", 1)[0]


class Msg:
    """A catalogue message: ``id`` (a literal in the code, extracted by the tests) and its
    values, which may be messages themselves; ``detail`` is the daemon's own text, if any."""

    __slots__ = ("detail", "id", "values")

    def __init__(self, id: str, /, **values: Value) -> None:
        self.id = id
        self.values = values
        self.detail = ""

    @classmethod
    def key(cls, prefix: str, code: object, *, detail: str = "") -> Msg:
        """The keyed message ``prefix:code`` (a state, a command ...); see :data:`KEYED`."""
        if prefix not in KEYED:
            raise ValueError(f"{prefix!r} is not a keyed message prefix ({', '.join(KEYED)})")
        message = cls(f"{prefix}:{code}")
        message.detail = detail
        return message

    def text(self, translations: NullTranslations, language: str) -> str:
        """The message in ``language``; a keyed id the catalogue lacks shows its bare code."""
        template = translations.gettext(self.id)
        if template == self.id and self.id.split(":", 1)[0] in KEYED:
            return self.id.split(":", 1)[1]
        if not self.values:
            return template
        return template % {k: _shown(v, translations, language) for k, v in self.values.items()}

    def __repr__(self) -> str:
        return f"Msg({self.id!r}, {self.values!r}, detail={self.detail!r})"


def _shown(value: Value, translations: NullTranslations, language: str) -> str:
    if isinstance(value, Msg):
        return value.text(translations, language)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return i18n.number(value, language)
    return value


def daemon_problem(status: int, doc: dict[str, Any]) -> Msg:
    """The user's message for a refusal of the control API (its problem document)."""
    kind = str(doc.get("type") or "").rsplit(":", 1)[-1]
    reason = str(doc.get("reason") or "")
    detail = str(doc.get("detail") or "")
    for key in (reason, kind):
        if key in PROBLEMS:
            return Msg.key("problem", key, detail=detail)
    other = Msg("The line refused the request (HTTP %(status)s).", status=str(status))
    other.detail = detail
    return other


TRANSLATIONS = web.AppKey("translations", dict[str, NullTranslations])
