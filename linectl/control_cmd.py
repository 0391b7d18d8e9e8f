"""``linectl status`` and the operator commands (start, stop, hold, ...) over the control API.

Kept out of cli.py so the parser file stays a table; cli.py only calls
:func:`add_control_commands`. Exit codes: 0 done, 1 refused by the line, 2 configuration or
authorisation problem, 3 no daemon answering.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linectl.config import ConfigError, LineConfig, load_config
from linectl.runtime.client import (
    CommandRejected,
    ControlClient,
    ControlClientError,
    DaemonUnreachable,
    Endpoint,
)
from linectl.runtime.control import Command
from linectl.runtime.tokens import DEFAULT_TOKEN_NAME, token_path

SYSTEM_CONFIG = Path("/etc/linectl/line.toml")
"""Used when neither --config nor $LINECTL_CONFIG names a file (where the service reads it)."""

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
    """Register ``status`` and one subcommand per :class:`Command` on the CLI's subparsers."""
    p = add("status", cmd_status, "the running line: state, batch, counters, devices, alarms")
    p.add_argument("--json", action="store_true", help="the daemon's status document as JSON")
    for command, text in _COMMAND_HELP.items():
        p = add(command.value, cmd_control, text)
        p.set_defaults(control_command=command)
        if command is Command.START:
            p.add_argument("--batch", help="work order to start (needed when none is active)")
        p.add_argument("--reason", default="", help="why (recorded in the audit trail)")


# --- finding the daemon --------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> LineConfig:
    name = args.config or os.environ.get("LINECTL_CONFIG")
    if name:
        return load_config(name)
    if SYSTEM_CONFIG.exists():
        return load_config(SYSTEM_CONFIG)
    raise ConfigError(
        "(none)", [f"no configuration: use --config LINE.toml, $LINECTL_CONFIG or {SYSTEM_CONFIG}"]
    )


def _operator(args: argparse.Namespace) -> str:
    """The user for the audit trail: --user, but the real person behind ``sudo``."""
    user = str(args.user)
    sudo_user = os.environ.get("SUDO_USER")
    if user == "root" and sudo_user and sudo_user != "root":
        return sudo_user
    return user


def client_for(args: argparse.Namespace) -> ControlClient:
    """A client for the daemon described by --config: its control section and token file."""
    config = _config(args)
    ledger_dir = Path(args.ledger).parent if args.ledger else config.ledger.path.parent
    token_file = token_path(config.control, ledger_dir / DEFAULT_TOKEN_NAME)
    endpoint = Endpoint.from_config(config.control)
    return ControlClient.from_token_file(endpoint, token_file, user=_operator(args))


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
        answer = client.command(command, reason=args.reason, batch=getattr(args, "batch", None))
        status = answer.get("status")
        summary = _summary(status) if isinstance(status, dict) else ""
        print(f"{command.value} accepted (by {answer.get('user', client.user)}){summary}")
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


def _block(key: str, value: Any, indent: str) -> list[str]:
    """``key: value`` lines; dicts and lists nest one level of indent per level."""
    if key == "state":
        return [f"{indent}{key}: {_state(value)}"]
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
