"""The ``linectl`` command line: ledger, batches, serials, reports, trace, audit, decoding."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from linectl.aggregation_cmd import add_aggregation_commands
from linectl.batch_cmd import add_batch_record_commands
from linectl.config import BUILTIN_PROFILES, ConfigError, LineSection, load_config
from linectl.control_cmd import add_control_commands
from linectl.identity import IdentityError, Principal, Role, Signatures
from linectl.identity_cmd import (
    add_identity_commands,
    attach_key,
    audit_key,
    caller,
    guard_reinit,
    identity_of,
    init_admin,
    sign_now,
)
from linectl.ledger import (
    Ledger,
    LedgerError,
    WorkOrder,
    WorkOrderCode,
    checked_code,
)
from linectl.ledger.opening import create_ledger, damage_named
from linectl.ledger.opening import open_ledger as open_existing
from linectl.lifecycle import return_unused
from linectl.products_cmd import add_products_commands
from linectl.resolver.command import add_resolver_commands
from linectl.serials_cmd import add_serials_commands
from linectl.tags_cmd import add_tags_commands
from linectl.upstream.chain_head import export_chain_head
from standards.gs1.errors import Gs1Error

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """The command line itself is incomplete or contradictory."""


def ledger_path(args: argparse.Namespace) -> Path:
    """The ledger file: --ledger, else the one named by --config / $LINECTL_CONFIG."""
    if args.ledger:
        return Path(args.ledger)
    config = args.config or os.environ.get("LINECTL_CONFIG")
    if not config:
        raise UsageError("no ledger given: use --config LINE.toml (or $LINECTL_CONFIG) or --ledger")
    return load_config(config).ledger.path


def open_ledger(args: argparse.Namespace, *, create: bool = False, auth: bool = True) -> Ledger:
    """The command's ledger with its audit key attached. Only ``ledger init`` (``create``) makes
    one; every other command refuses a file that is not a linectl ledger and leaves it unchanged.
    With ``auth``, the caller is authenticated and their role checked against the command
    (``args.user`` becomes their name)."""
    path = args.ledger_file = ledger_path(args)
    ledger = create_ledger(path) if create else open_existing(path)
    try:
        if not create:
            attach_key(args, ledger)
        if auth:
            caller(args, ledger)
    except BaseException:
        ledger.close()
        raise
    return ledger


def with_ledger(handler: Callable[[argparse.Namespace, Ledger], int], auth: bool = True) -> Handler:
    """A handler that gets the open ledger (and, with ``auth``, an authenticated caller)."""

    def run(args: argparse.Namespace) -> int:
        with open_ledger(args, auth=auth) as ledger:
            return handler(args, ledger)

    return run


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


# --- ledger / batches ----------------------------------------------------------------------------


def cmd_ledger_init(args: argparse.Namespace) -> int:
    with open_ledger(args, create=True, auth=False) as ledger:
        admin = guard_reinit(args, ledger)  # a ledger with users: an admin, logged in
        print(f"ledger {ledger.path}: schema version {ledger.schema_version}")
        key_path = attach_key(args, ledger, create=True)
        print(f"audit trail keyed (key {ledger.identity.keyed()}, in {key_path})")
        if admin is None:
            init_admin(args, ledger)
        else:
            after = {"schema": ledger.schema_version, "key": ledger.identity.keyed()}
            ledger.record_event(admin.name, "ledger.init", "ledger init by an admin", {}, after)
            print(f"ledger init by {admin.name}: users, records and key unchanged")
    return 0


def _parse_materials(items: Sequence[str]) -> dict[str, str]:
    materials: dict[str, str] = {}
    for item in items:
        name, sep, lot = item.partition("=")
        if not sep or not name or not lot:
            raise UsageError(f"--material {item!r}: expected NAME=LOT, e.g. carton=C2026-11")
        materials[name] = lot
    return materials


def _work_order_row(wo: WorkOrder) -> str:
    return (
        f"{wo.batch:<16} {wo.status:<8} GTIN {wo.gtin}  lot {wo.lot:<12} exp {wo.expiry}  "
        f"qty {wo.quantity:>7}  {wo.target_market}"
    )


def _batch_code(args: argparse.Namespace) -> WorkOrderCode:
    """--profile and --nhrn, checked (against the configured profile when there is a config)."""
    fields: dict[str, str] = {}
    for item in args.code_field:
        ai, sep, value = item.partition("=")
        if not sep or not ai or not value:
            raise UsageError(f"--nhrn {item!r}: expected AI=VALUE, e.g. 710=12345678")
        fields[ai] = value
    code = checked_code(args.profile, fields)
    line = _line_or_none(args)
    profiles = line.code_profiles() if line is not None else BUILTIN_PROFILES
    if code.code_profile:
        if code.code_profile not in profiles:
            known = ", ".join(sorted(profiles))
            where = "" if line is not None else " (give --config for the line's own profiles)"
            raise UsageError(f"--profile {code.code_profile}: not defined{where}; known: {known}")
        problems = profiles[code.code_profile].missing_fields(code.code_fields)
        if problems:
            raise UsageError(f"--profile {code.code_profile}: {'; '.join(problems)}")
    return code


def cmd_batch_create(args: argparse.Namespace) -> int:
    code = _batch_code(args)
    with open_ledger(args) as ledger:
        wo = ledger.create_work_order(
            batch=args.batch,
            gtin=args.gtin,
            lot=args.lot,
            expiry=args.expiry,
            quantity=args.quantity,
            target_market=args.market,
            materials=_parse_materials(args.material),
            actor=args.user,
            reason=args.reason,
            code=code,
        )
        shown = " ".join(f"({ai}) {v}" for ai, v in code.code_fields.items())
        extra = f", code profile {code.code_profile} {shown}".rstrip() if code.code_profile else ""
        print(f"created {_work_order_row(wo)}{extra}")
    return 0


def cmd_batch_start(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        wo = ledger.start_work_order(args.batch, actor=args.user, reason=args.reason)
        print(f"started {_work_order_row(wo)}")
    return 0


def cmd_batch_close(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        principal: Principal = args.principal
        signer = None if principal.role == Role.MACHINE else sign_now(args, ledger, "batch.close")
        if args.return_unused:
            n = return_unused(ledger, args.batch, actor=args.user, reason="returned at batch close")
            print(f"{n} unused serials marked returned")
        wo = ledger.close_work_order(args.batch, actor=args.user, reason=args.reason)
        print(f"closed {_work_order_row(wo)}")
        if signer is not None:
            record = {
                "work_order": asdict(wo),
                "reconciliation": ledger.reconcile(args.batch).to_json(),
            }
            sig = Signatures(identity_of(args, ledger)).record(
                signer, "batch.close", args.meaning or "performed", args.batch, record, args.reason
            )
            print(f"signed by {sig.printed_name} ({sig.user_name}) at {sig.at}: {sig.meaning}")
        print(ledger.reconcile(args.batch).to_table())
        head = export_chain_head(ledger, args.batch, actor=args.user, line=_line_or_none(args))
        print(f"audit chain head: {head.text()}, queued upstream (event {head.event_id})")
    return 0


def _line_or_none(args: argparse.Namespace) -> LineSection | None:
    """The line identity from --config / $LINECTL_CONFIG, if one is given (events use it)."""
    name = args.config or os.environ.get("LINECTL_CONFIG")
    return load_config(name).line if name else None


def cmd_batch_list(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        orders = ledger.list_work_orders()
        if args.json:
            _print_json([asdict(wo) for wo in orders])
        elif not orders:
            print("no batches")
        else:
            for wo in orders:
                print(_work_order_row(wo))
    return 0


# --- audit ----------------------------------------------------------------------------------------


def cmd_audit_verify(args: argparse.Namespace) -> int:
    anchor = None
    if args.anchor:
        row, sep, digest = args.anchor.partition(":")
        if not sep or not row.isdigit():
            raise UsageError(f"--anchor {args.anchor!r}: expected ROW_ID:ROW_HASH")
        anchor = (int(row), digest)
    with open_ledger(args) as ledger:
        report = ledger.verify_audit(anchor=anchor, key=audit_key(args, ledger))
        print(report)
        return 0 if report.ok else 1


def cmd_audit_acknowledge(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        signer = sign_now(args, ledger, "audit.acknowledge")
        report = ledger.integrity.acknowledge(args.user, args.reason)
        if report.ok:
            print(f"nothing to acknowledge: {report}")
            return 0
        sig = Signatures(identity_of(args, ledger)).record(
            signer, "audit.acknowledge", args.meaning or "reviewed", "ledger",
            {"problems": list(report.problems)}, args.reason,
        )  # fmt: skip
        print(f"acknowledged by {args.user} (the line may start on these findings):\n{report}")
        print(f"signed by {sig.printed_name} ({sig.user_name}) at {sig.at}: {sig.meaning}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from linectl.service.daemon import DaemonArgs, main  # imported lazily: the whole runtime

    config = args.run_config or args.config or os.environ.get("LINECTL_CONFIG")
    if not config:
        raise UsageError("linectl run needs --config LINE.toml (or $LINECTL_CONFIG)")
    from linectl.logs import configure_logging

    configure_logging(args.log_level)
    try:
        return main(DaemonArgs(Path(config), batch=args.batch, start=args.start))
    except (ConfigError, LedgerError, UsageError):
        raise
    except Exception as exc:  # devices not reachable, control API not served, ...
        print(f"linectl run: {exc}", file=sys.stderr)
        return 1


def cmd_hmi(args: argparse.Namespace) -> int:
    from linectl.hmi.server import HmiError, main  # imported lazily: the web app
    from linectl.logs import configure_logging

    config = args.hmi_config or args.config or os.environ.get("LINECTL_CONFIG")
    if not config:
        raise UsageError("linectl hmi needs --config LINE.toml (or $LINECTL_CONFIG)")
    configure_logging(args.log_level)
    try:
        return main(Path(config))
    except (HmiError, OSError) as exc:
        print(f"linectl hmi: {exc}", file=sys.stderr)
        return 1


def cmd_opcua(args: argparse.Namespace) -> int:
    from linectl.logs import configure_logging
    from linectl.opcua.nodeset import NodesetError
    from linectl.opcua.security import SecurityError
    from linectl.opcua.server import OpcuaError, main  # imported lazily: asyncua's server

    config = args.opcua_config or args.config or os.environ.get("LINECTL_CONFIG")
    if not config:
        raise UsageError("linectl opcua needs --config LINE.toml (or $LINECTL_CONFIG)")
    configure_logging(args.log_level)
    try:
        return main(Path(config))
    except (OpcuaError, NodesetError, SecurityError, OSError) as exc:
        print(f"linectl opcua: {exc}", file=sys.stderr)
        return 1


def cmd_decode(args: argparse.Namespace) -> int:
    from linectl.decode_cmd import run_decode  # imported lazily: pulls in OpenCV and zxing-cpp

    return run_decode(list(args.images), as_json=args.json, allow_qr=args.qr)


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linectl", description=__doc__)
    parser.add_argument("--config", help="line configuration file (default: $LINECTL_CONFIG)")
    parser.add_argument("--ledger", help="ledger file (overrides the one in the configuration)")
    parser.add_argument(
        "--token-file", help="API token file of a machine account (default: your login session)"
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read passwords from standard input, one line per prompt (machines, tests)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        return p

    def add_ledger(
        name: str,
        handler: Callable[[argparse.Namespace, Ledger], int],
        help_: str,
        parent: Any = sub,
    ) -> argparse.ArgumentParser:
        auth = name not in ("login", "logout", "passwd")
        return add(name, with_ledger(handler, auth), help_, parent)

    ledger = sub.add_parser("ledger", help="the ledger file").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    p = add(
        "init", cmd_ledger_init, "create or migrate the ledger, its audit key, first admin", ledger
    )
    p.add_argument("--admin", help="the first admin's user name (a new ledger only)")
    p.add_argument(
        "--one-time-secret",
        metavar="FILE",
        help="write the first admin's one-time secret here (0600) instead of a prompt",
    )

    batch = sub.add_parser("batch", help="work orders (batches)").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    p = add("create", cmd_batch_create, "create a work order", batch)
    p.add_argument("batch")
    p.add_argument("--gtin", required=True)
    p.add_argument("--lot", required=True)
    p.add_argument("--expiry", required=True, help="YYMMDD")
    p.add_argument("--quantity", required=True, type=int)
    p.add_argument("--market", required=True, help="target market, ISO country code, e.g. DE")
    p.add_argument("--material", action="append", default=[], metavar="NAME=LOT")
    p.add_argument("--profile", default="", help="market code profile, e.g. de-pzn")
    p.add_argument(
        "--nhrn",
        "--code-field",
        dest="code_field",
        action="append",
        default=[],
        metavar="AI=VALUE",
        help="a code field of the profile, e.g. 710=12345678",
    )
    p.add_argument("--reason", default="")
    for name, handler, text in (
        ("start", cmd_batch_start, "start a work order (serials may then be printed)"),
        ("close", cmd_batch_close, "close a work order and print its reconciliation"),
    ):
        p = add(name, handler, text, batch)
        p.add_argument("batch")
        p.add_argument("--reason", default="")
        if name == "close":
            p.add_argument("--meaning", choices=("performed", "reviewed"), default="performed")
            p.add_argument(
                "--return-unused",
                action="store_true",
                help="mark serials never printed as returned to the site pool",
            )
    p = add("list", cmd_batch_list, "list work orders", batch)
    p.add_argument("--json", action="store_true")

    add_serials_commands(sub, add, open_ledger)  # serials import, serials generate

    add_batch_record_commands(add, batch, open_ledger, _parse_materials)  # report, material
    add_products_commands(sub, add, open_ledger)  # products import, list

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    p = add(
        "verify", cmd_audit_verify, "check the chain and its keys; name the first broken row", audit
    )
    p.add_argument("--anchor", help="ROW_ID:ROW_HASH recorded elsewhere, to detect truncation")

    p = add(
        "acknowledge",
        cmd_audit_acknowledge,
        "accept the current findings of 'audit verify' so the line may start (admin, audited)",
        audit,
    )
    p.add_argument("--reason", required=True, help="why the findings are accepted")
    p.add_argument("--meaning", choices=("reviewed", "approved"), help="of the signature")

    p = add("decode", cmd_decode, "what the daemon's decoder sees in saved camera frames")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--qr", action="store_true", help="also look for QR codes (Digital Link)")
    p.add_argument("--json", action="store_true")

    p = add("run", cmd_run, "run the line daemon until SIGTERM (systemd: Type=notify)")
    p.add_argument("--config", dest="run_config", metavar="FILE", help="line configuration")
    p.add_argument("--batch", help="the batch to produce (started in the ledger if only created)")
    p.add_argument("--start", action="store_true", help="send START once recovery is done")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")

    add_tags_commands(sub, add_ledger)  # tags ndef, tags import: NFC by the supplier
    add_identity_commands(sub, add_ledger, batch, audit)  # login, user, release, audit show
    p = add("hmi", cmd_hmi, "serve the operator HMI over HTTPS (a client of the control API)")
    p.add_argument("--config", dest="hmi_config", metavar="FILE", help="line configuration")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")

    p = add("opcua", cmd_opcua, "serve the line to SCADA/MES over OPC UA (PackML, OPC 30050)")
    p.add_argument("--config", dest="opcua_config", metavar="FILE", help="line configuration")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")

    add_control_commands(sub, add)  # status, start, stop, hold, ...: the running daemon's API
    add_aggregation_commands(sub, add, open_ledger)  # contents, recall, case/pallet/unit rework
    add_resolver_commands(sub, add)  # linectl resolver: serve, recall, import-products
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        with damage_named(lambda: getattr(args, "ledger_file", "(no ledger)")):
            return handler(args)
    except (UsageError, ConfigError, LedgerError, Gs1Error) as exc:
        print(f"linectl: error: {exc}", file=sys.stderr)
        return 2
    except IdentityError as exc:
        print(f"linectl: refused ({exc.reason}): {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
