"""``linectl status`` and the operator commands (start, stop, hold, ...) over the control API.

Kept out of cli.py so the parser file stays a table; cli.py only calls
:func:`add_control_commands`. Exit codes: 0 done, 1 refused by the line, 2 configuration or
authorisation problem, 3 no daemon answering.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linectl.config import ConfigError, LineConfig, load_config
from linectl.identity.keyfiles import KeyFileError, find_credential
from linectl.line.control import Command
from linectl.service.client import (
    CommandRejected,
    ControlClient,
    ControlClientError,
    DaemonUnreachable,
    Endpoint,
    Forbidden,
    unreachable_message,
)

SYSTEM_CONFIG = Path("/etc/linectl/line.toml")
"""Used when neither --config nor $LINECTL_CONFIG names a file (where the service reads it)."""

SIGNATURE_REQUIRED = "urn:linectl:problem:signature-required"
EXIT_REFUSED = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3

Handler = Callable[[argparse.Namespace], int]
AddCommand = Callable[..., argparse.ArgumentParser]

_COMMAND_HELP: dict[Command, str] = {
    Command.START: "start production (PackML Start); --batch names the work order to run",
    Command.STOP: "stop the line in an orderly way (PackML Stop)",
    Command.HOLD: "hold the line (PackML Hold), e.g. to clear a jam",
    Command.UNHOLD: "resume from Held (PackML Unhold) once the cause is gone",
    Command.RESET: "reset from Stopped or Complete to Idle (PackML Reset)",
    Command.SUSPEND: "suspend production (PackML Suspend), e.g. upstream starved",
    Command.UNSUSPEND: "resume from Suspended (PackML Unsuspend)",
    Command.ABORT: "abort: stop at once (PackML Abort), e.g. an emergency",
    Command.CLEAR: "clear after an abort, to Stopped (PackML Clear)",
    Command.CLOSE_BATCH: "finish the batch: stop, resolve in-flight packs, reconcile",
}


def add_control_commands(sub: Any, add: AddCommand) -> None:
    """Register ``status``, one subcommand per :class:`Command`, and ``sync`` on the CLI."""
    p = add("status", cmd_status, "the running line: state, batch, counters, devices, alarms")
    p.add_argument("--json", action="store_true", help="the daemon's status document as JSON")
    for command, text in _COMMAND_HELP.items():
        p = add(command.value, cmd_control, text)
        p.set_defaults(control_command=command)
        if command is Command.START:
            p.add_argument("--batch", help="work order to start (needed when none is active)")
        p.add_argument("--meaning", help="of your signature, when the command needs one")
        p.add_argument("--reason", default="", help="why (recorded in the audit trail)")
    from linectl.sync_cmd import add_sync_command  # imported here: it builds on this module

    add_sync_command(add)  # linectl sync: the upstream backlog drains, with a progress bar


# --- finding the daemon --------------------------------------------------------------------------


def line_config(args: argparse.Namespace) -> LineConfig:
    """The line configuration: --config, $LINECTL_CONFIG or the system one."""
    name = args.config or os.environ.get("LINECTL_CONFIG")
    if name:
        return load_config(name)
    if SYSTEM_CONFIG.exists():
        return load_config(SYSTEM_CONFIG)
    raise ConfigError(
        "(none)", [f"no configuration: use --config LINE.toml, $LINECTL_CONFIG or {SYSTEM_CONFIG}"]
    )


def client_for(args: argparse.Namespace) -> ControlClient:
    """A client for the daemon described by --config, with the caller's session or API token."""
    config = line_config(args)
    ledger = Path(args.ledger) if args.ledger else config.ledger.path
    endpoint = Endpoint.from_config(config.control)
    try:
        token = find_credential(args.token_file, config.identity, ledger)
    except KeyFileError as exc:
        if not endpoint.answers():
            raise DaemonUnreachable(unreachable_message(endpoint)) from None
        raise ControlClientError(exc.message) from None
    return ControlClient(endpoint, token)


def _run(args: argparse.Namespace, action: Callable[[ControlClient], int]) -> int:
    try:
        return action(client_for(args))
    except ConfigError as exc:
        print(f"linectl: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DaemonUnreachable as exc:
        print(f"linectl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except CommandRejected as exc:
        what = getattr(args, "control_command", None)
        print(f"linectl: {what.value if what else 'command'} refused: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except ControlClientError as exc:
        print(f"linectl: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


# --- handlers ------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    def show(client: ControlClient) -> int:
        status = client.status()
        if args.json:
            print(json.dumps(status, indent=2, ensure_ascii=False, default=str))
        else:
            print(format_status(status))
        return 0

    return _run(args, show)


def cmd_control(args: argparse.Namespace) -> int:
    command: Command = args.control_command

    def send(client: ControlClient) -> int:
        batch = getattr(args, "batch", None)
        try:
            answer = client.command(command, reason=args.reason, batch=batch)
        except Forbidden as exc:
            if exc.problem.get("type") != SIGNATURE_REQUIRED:
                raise
            # a person closes the batch: the daemon asks for their electronic signature
            meaning = args.meaning or str(exc.problem.get("meaning") or "")
            prompt = f"signature ({command.value}): your password: "
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            else:
                password = getpass.getpass(prompt)
            answer = client.command(
                command, reason=args.reason, batch=batch, signature=(password, meaning or None)
            )
        status = answer.get("status")
        summary = _summary(status) if isinstance(status, dict) else ""
        print(f"{command.value} accepted (by {answer.get('user', '?')}){summary}")
        sig = answer.get("signature")
        if isinstance(sig, dict):
            print(
                f"signed by {sig.get('by')} ({sig.get('user')}) at {sig.get('at')}: "
                f"{sig.get('meaning')}"
            )
        return 0

    return _run(args, send)


# --- formatting ----------------------------------------------------------------------------------

_ORDER = ("line", "state", "batch", "counters", "reject_reasons", "pool", "devices", "upstream")


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _state(value: Any) -> str:
    if isinstance(value, dict) and value.get("unknown"):
        return str(value["unknown"])
    if isinstance(value, dict) and "name" in value:
        number = value.get("number")
        return f"{value['name']} ({number})" if number is not None else str(value["name"])
    return _scalar(value)


def _alarm(alarm: Any) -> str:
    if not isinstance(alarm, dict):
        return f"! {_scalar(alarm)}"
    code = alarm.get("code", "?")
    text = f"! {code}: {alarm.get('message', '')}".rstrip(": ")
    extras = []
    if alarm.get("since"):
        extras.append(f"since {alarm['since']}")
    count = alarm.get("count")
    if isinstance(count, int) and count > 1:
        extras.append(f"{count} times")
    if alarm.get("holds") or alarm.get("holds_line"):
        extras.append("holds the line")
    return f"{text} ({', '.join(extras)})" if extras else text


def age_text(seconds: float | None) -> str:
    """A duration as an operator reads it: ``45 s``, ``2 min 13 s``, ``3 h 5 min``, ``2 d 4 h``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _pool_lines(pool: dict[str, Any], indent: str) -> list[str]:
    """``pool: 412 serials available (low water 500: LOW), 16 written ahead``."""
    low = f"low water {_scalar(pool.get('low_water'))}" + (": LOW" if pool.get("low") else "")
    ahead = pool.get("written_ahead")
    tail = f", {_scalar(ahead)} written ahead" if ahead is not None else ""
    return [f"{indent}pool: {_scalar(pool.get('available'))} serials available ({low}){tail}"]


def _epcis_line(epcis: dict[str, Any]) -> str:
    state = str(epcis.get("state", "?"))
    text = f"EPCIS {state}"
    delivered = epcis.get("delivered")
    if delivered is not None:
        text += f", {_scalar(delivered)} delivered in {_scalar(epcis.get('documents'))} documents"
    if epcis.get("last_success_at"):
        text += f", last success {epcis['last_success_at']}"
    failures = epcis.get("consecutive_failures") or 0
    if failures:
        next_at = _scalar(epcis.get("next_attempt_at"))
        text += f"; {failures} failed attempts in a row, next at {next_at}"
    if epcis.get("last_error") and (failures or state != "idle"):
        text += f"; last error: {epcis['last_error']}"
    return text


def _serials_lines(prov: dict[str, Any], indent: str) -> list[str]:
    state = str(prov.get("state", "?"))
    text = f"{indent}serials: pool manager {state}"
    if state != "ok" and prov.get("last_error"):
        text += f" (last failed at {_scalar(prov.get('last_error_at'))}: {prov['last_error']})"
    refills = int(prov.get("refills") or 0)
    if refills:
        text += f"; {refills:,} refills brought {int(prov.get('received') or 0):,} serials"
    lines = [text]
    pending = prov.get("returns_pending") or {}
    waiting = int(pending.get("serials") or 0)
    returned = int(prov.get("returned") or 0)
    if waiting:
        batches = int(pending.get("batches") or 0)
        lines.append(
            f"{indent}returns: {waiting:,} unused serials of {batches} closed "
            f"batch{'es' if batches != 1 else ''} wait to go back ({returned:,} returned)"
        )
    elif returned:
        lines.append(f"{indent}returns: {returned:,} unused serials returned, none waiting")
    for batch, why in (prov.get("returns_refused") or {}).items():
        lines.append(f"{indent}returns refused for batch {batch}: {why}")
    return lines


def _upstream_lines(upstream: dict[str, Any], indent: str) -> list[str]:
    """The upstream links in a few readable lines: backlog first, then each link."""
    backlog = upstream.get("backlog")
    inner = indent + "  "
    if backlog is None:
        events = "events: -"
    elif backlog == 0:
        events = "events: all delivered"
    else:
        age = upstream.get("oldest_undelivered_age_s")
        oldest = f", oldest {age_text(age)} old" if age is not None else ""
        events = f"events: {backlog:,} waiting to go upstream{oldest}"
    lines = [f"{indent}upstream:", f"{inner}{events}"]
    epcis = upstream.get("epcis")
    if isinstance(epcis, dict):
        lines.append(f"{inner}{_epcis_line(epcis)}")
    elif "epcis" in upstream:
        lines.append(f"{inner}EPCIS: not configured (events stay in the outbox)")
    prov = upstream.get("provisioning")
    if isinstance(prov, dict):
        lines.extend(_serials_lines(prov, inner))
    return lines


def _block(key: str, value: Any, indent: str) -> list[str]:
    """``key: value`` lines; dicts and lists nest one level of indent per level."""
    if key == "state":
        return [f"{indent}{key}: {_state(value)}"]
    if key == "pool" and not indent and isinstance(value, dict):
        return _pool_lines(value, indent)
    if key == "upstream" and not indent and isinstance(value, dict):
        return _upstream_lines(value, indent)
    if isinstance(value, dict):
        if not value:
            return [f"{indent}{key}: -"]
        lines = [f"{indent}{key}:"]
        for sub_key, sub_value in value.items():
            lines.extend(_block(str(sub_key), sub_value, indent + "  "))
        return lines
    if isinstance(value, list):
        if not value:
            return [f"{indent}{key}: none"]
        lines = [f"{indent}{key}:"]
        for item in value:
            if key == "alarms":
                lines.append(f"{indent}  {_alarm(item)}")
            elif isinstance(item, dict):
                pairs = ", ".join(f"{k}={_scalar(v)}" for k, v in item.items())
                lines.append(f"{indent}  - {pairs}")
            else:
                lines.append(f"{indent}  - {_scalar(item)}")
        return lines
    return [f"{indent}{key}: {_scalar(value)}"]


def format_status(status: dict[str, Any]) -> str:
    """The status document as an operator reads it: state first, alarms last."""
    keys = [k for k in _ORDER if k in status]
    keys += sorted(k for k in status if k not in _ORDER and k != "alarms")
    if "alarms" in status:
        keys.append("alarms")
    lines: list[str] = []
    for key in keys:
        lines.extend(_block(key, status[key], ""))
    return "\n".join(lines)


def _summary(status: dict[str, Any]) -> str:
    parts = []
    if "state" in status:
        parts.append(f"state {_state(status['state'])}")
    if status.get("batch"):
        batch = status["batch"]
        name = batch.get("batch") or batch.get("id") if isinstance(batch, dict) else batch
        parts.append(f"batch {_scalar(name)}")
    return ": " + ", ".join(parts) if parts else ""
