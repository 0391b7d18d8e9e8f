"""``linectl trace``, ``contents``, ``recall``, ``orphans`` and the rework commands on cases,
pallets and units.

Kept out of cli.py so the parser file stays a table; cli.py only calls
:func:`add_aggregation_commands`. Queries need only the
ledger; rework commands also need the line configuration (read point, company prefix,
identifier form) to write their EPCIS events, and a ``--reason``: each is one ledger
transaction with its events and audit rows under ``--user``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from linectl.aggregation.dispatch import Dispatch
from linectl.aggregation.rework import Rework, ReworkResult
from linectl.config import ConfigError, IdentitySection, LineSection, OrphanPolicy, load_config
from linectl.identity import Signatures
from linectl.identity.matrix import SIGNED_ACTIONS
from linectl.identity.prompts import signer
from linectl.identity.setup import line_identity
from linectl.ledger import Ledger, SerialTrace, UnknownSerial, ValidationError, verdict_text
from linectl.ledger.hierarchy import ChainLink, ContainerTree, chain, orphans, recall, tree
from standards.gs1.checkdigit import CheckDigitError, has_valid_check_digit, validate_sscc
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan

Handler = Callable[[argparse.Namespace], int]
AddCommand = Callable[..., argparse.ArgumentParser]
OpenLedger = Callable[[argparse.Namespace], Ledger]


def add_aggregation_commands(sub: Any, add: AddCommand, open_ledger: OpenLedger) -> None:
    """Register contents, recall, orphans and the case / pallet / unit rework subcommands."""

    def bound(handler: Callable[[argparse.Namespace, Ledger], int]) -> Handler:
        def run(args: argparse.Namespace) -> int:
            with open_ledger(args) as ledger:
                return handler(args, ledger)

        return run

    p = add("trace", bound(cmd_trace), "full history of one unit, by serial or by scanned code")
    p.add_argument("code", metavar="SERIAL_OR_CODE")
    p.add_argument("--gtin", help="needed when the serial exists under several GTINs")
    p.add_argument("--json", action="store_true")

    p = add("contents", bound(cmd_contents), "everything packed in a case or pallet, as a tree")
    p.add_argument("sscc", metavar="SSCC", help="18 digits, or a scan of the label")
    p.add_argument("--json", action="store_true")

    p = add("recall", bound(cmd_recall), "every unit, case and pallet of a lot, with its state")
    p.add_argument("lot", metavar="LOT")
    p.add_argument("--json", action="store_true")

    p = add("orphans", bound(cmd_orphans), "good units of a batch in no case; apply a policy")
    p.add_argument("batch")
    p.add_argument("--policy", choices=[p.value for p in OrphanPolicy], help="apply it")
    p.add_argument("--reason", default="orphans at batch end")

    def group(name: str, text: str) -> Any:
        return sub.add_parser(name, help=text).add_subparsers(
            dest="sub", required=True, metavar="ACTION"
        )

    def rework(
        parent: Any, name: str, handler: ReworkHandler, text: str
    ) -> argparse.ArgumentParser:
        p = add(name, bound(lambda a, led: _rework(a, led, handler)), text, parent)
        p.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        p.add_argument("--gtin", help="needed when a serial exists under several GTINs")
        p.add_argument("--meaning", choices=SIGNED_ACTIONS["rework"], default="performed")
        return p

    case = group("case", "rework on cases (one transaction each, with EPCIS events)")
    p = rework(case, "remove", _remove, "take a unit out of its case (unpacking)")
    p.add_argument("case", metavar="CASE_SSCC")
    p.add_argument("serial")
    p = rework(case, "add", _add, "put a commissioned unit into a case (packing)")
    p.add_argument("case", metavar="CASE_SSCC")
    p.add_argument("serial")
    p = rework(case, "replace", _replace, "swap a unit for a replacement (unpacking, packing)")
    p.add_argument("case", metavar="CASE_SSCC")
    p.add_argument("old", metavar="OLD_SERIAL")
    p.add_argument("new", metavar="NEW_SERIAL")
    for level in (case, group("pallet", "rework on pallets")):
        p = rework(level, "reopen", _reopen, "reopen a closed container for rework")
        p.add_argument("sscc", metavar="SSCC")
        p = rework(level, "close", _close, "close a container again (or a partial case)")
        p.add_argument("sscc", metavar="SSCC")
        if level is not case:
            p = rework(level, "add", _stack, "put closed cases onto a pallet (packing)")
            p.add_argument("pallet", metavar="PALLET_SSCC")
            p.add_argument("cases", nargs="+", metavar="CASE_SSCC")
            p = rework(level, "break", _break, "take every case off a pallet (unpacking)")
            p.add_argument("pallet", metavar="PALLET_SSCC")

    p = add("ship", bound(cmd_ship), "ship a closed case or pallet of released units")
    p.add_argument("sscc", metavar="SSCC", help="18 digits, or a scan of the label")
    p.add_argument("--to", required=True, metavar="SGLN", help="where it goes (EPC URN or DL)")
    p.add_argument(
        "--order", metavar="ID", help="the order it ships under (a business transaction)"
    )
    p.add_argument("--reason", default="shipped")
    p = add("receive", bound(cmd_receive), "a shipped case or pallet came back (a return)")
    p.add_argument("sscc", metavar="SSCC", help="18 digits, or a scan of the label")
    p.add_argument("--from", dest="source", required=True, metavar="SGLN", help="where from")
    p.add_argument("--reason", default="returned")

    unit = group("unit", "rework on units")
    p = rework(unit, "decommission", _decommission, "decommission damaged units (unpacked first)")
    p.add_argument("serials", nargs="+", metavar="SERIAL")
    p = rework(unit, "sample", _sample, "take QA samples (unpacked first; sampling, end of life)")
    p.add_argument("serials", nargs="+", metavar="SERIAL")
    p = rework(unit, "destroy", _destroy, "destroy units (unpacked first; destroying/destroyed)")
    p.add_argument("serials", nargs="+", metavar="SERIAL")


# --- queries -------------------------------------------------------------------------------------


def sscc_argument(text: str) -> str:
    """An SSCC typed (18 digits) or scanned from a label ((00)..., ]C100..., a Digital Link)."""
    try:
        return validate_sscc(text)
    except CheckDigitError:
        pass
    try:
        scan = parse_scan(text)
    except Gs1Error as exc:
        raise ValidationError(
            f"not an SSCC or a scan of one ({exc})", field="SSCC", value=text
        ) from None
    if scan.sscc is None:
        raise ValidationError("holds no SSCC (AI 00)", field="SSCC", value=text)
    return scan.sscc


def cmd_contents(args: argparse.Namespace, ledger: Ledger) -> int:
    node = ledger.containers.read(tree, sscc_argument(args.sscc))
    if args.json:
        print(json.dumps(tree_json(node), indent=2, ensure_ascii=False))
    else:
        print("\n".join(tree_lines(node)))
    return 0


def tree_json(node: ContainerTree) -> dict[str, Any]:
    c = node.container
    return {
        "sscc": c.sscc,
        "level": c.level.value,
        "state": c.state.value,
        "batch": c.batch,
        "units_total": node.unit_count,
        "units": [
            {"gtin": u.gtin, "serial": u.serial, "batch": u.batch, "state": u.state.label}
            for u in node.units
        ],
        "children": [tree_json(child) for child in node.children],
    }


def tree_lines(node: ContainerTree, indent: str = "") -> list[str]:
    c = node.container
    cases = f"{len(node.children)} cases, " if node.children else ""
    lines = [
        f"{indent}{c.level.value} {c.sscc}  {c.state.value}  batch {c.batch or '-'}  "
        f"{cases}{node.unit_count} units"
    ]
    for child in node.children:
        lines += tree_lines(child, indent + "  ")
    lines += [f"{indent}  unit {u.gtin} {u.serial}  {u.state.label}" for u in node.units]
    return lines


def cmd_recall(args: argparse.Namespace, ledger: Ledger) -> int:
    found = ledger.containers.read(recall, args.lot)
    if not found.batches:
        raise ValidationError("no batch prints this lot", field="lot", value=args.lot)
    if args.json:
        data = asdict(found)
        data["units"] = [
            {
                "gtin": u.gtin,
                "serial": u.serial,
                "batch": u.batch,
                "state": u.state.label,
                "container": u.container,
            }
            for u in found.units
        ]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(f"lot {found.lot}: batches {', '.join(found.batches)}; {len(found.units)} serials")
    for c in found.containers:
        on = f"  on {c.parent}" if c.parent else ""
        cases = f"{c.cases} cases, " if c.level == "pallet" else ""
        print(f"  {c.level:<6} {c.sscc}  {c.state:<8} {cases}{c.units} units{on}")
    for u in found.units:
        print(f"  unit   {u.gtin} {u.serial}  {u.state.label:<13} {u.container or '-'}")
    return 0


def chain_lines(chain: Sequence[ChainLink]) -> list[str]:
    """The containers above a unit for ``trace``: each with its counts and its events."""
    lines: list[str] = []
    for n, link in enumerate(chain):
        c = link.container
        counts = f"{link.cases} cases, {link.units} units" if link.cases else f"{link.units} units"
        lines.append(f"{'in' if n == 0 else 'on'} {c.level} {c.sscc} ({c.state}, {counts})")
        lines += [f"  event {e.kind}: {e.event_id}  [{e.delivery}]" for e in link.events]
    return lines


def cmd_orphans(args: argparse.Namespace, ledger: Ledger) -> int:
    if args.policy is None:
        found = ledger.containers.read(orphans, args.batch)
        print(f"batch {args.batch}: {len(found)} orphans (commissioned, in no case)")
        print("\n".join(found))
        return 0
    report = _rework_api(args, ledger).handle_orphans(
        args.batch, args.policy, actor=args.user, reason=args.reason
    )
    print(f"batch {report.batch}: {len(report.serials)} orphans, policy {report.policy.value}")
    for kind, event_id in report.events:
        print(f"  event {kind}: {event_id}")
    return 0


# --- dispatch ------------------------------------------------------------------------------------


def cmd_ship(args: argparse.Namespace, ledger: Ledger) -> int:
    dispatch = Dispatch(ledger, line_section(args))
    s = dispatch.ship(
        sscc_argument(args.sscc), to=args.to, order=args.order, actor=args.user, reason=args.reason
    )
    node = ledger.containers.read(tree, s.sscc)
    order = f" under order {s.business_order}" if s.business_order else ""
    print(f"shipped {node.container.level.value} {s.sscc} ({node.unit_count} units) to "
          f"{s.destination}{order} at {s.at} by {s.actor}")  # fmt: skip
    print(f"  event shipping: {s.event_id}")
    return 0


def cmd_receive(args: argparse.Namespace, ledger: Ledger) -> int:
    dispatch = Dispatch(ledger, line_section(args))
    s = dispatch.receive(
        sscc_argument(args.sscc), source=args.source, actor=args.user, reason=args.reason
    )
    node = ledger.containers.read(tree, s.sscc)
    print(f"received {node.container.level.value} {s.sscc} ({node.unit_count} units) back from "
          f"{s.source} at {s.at} by {s.actor}: its units are Commissioned again")  # fmt: skip
    print(f"  event receiving: {s.event_id}")
    return 0


def shipment_lines(ledger: Ledger, ssccs: Sequence[str]) -> list[str]:
    """Shipments and returns of these containers, for ``trace``."""
    lines = []
    for s in ledger.shipments.history(ssccs):
        order = f", order {s.business_order}" if s.business_order else ""
        if s.kind == "shipped":
            lines.append(f"shipped {s.sscc} to {s.destination} at {s.at} by {s.actor}{order}")
        else:
            lines.append(f"returned {s.sscc} from {s.source} at {s.at} by {s.actor}{order}")
        lines.append(f"  event {'shipping' if s.kind == 'shipped' else 'receiving'}: {s.event_id}")
    return lines


# --- rework --------------------------------------------------------------------------------------

ReworkHandler = Callable[[Rework, argparse.Namespace], ReworkResult]


def line_section(args: argparse.Namespace) -> LineSection:
    """The line identity from --config / $LINECTL_CONFIG (events need it)."""
    name = args.config or os.environ.get("LINECTL_CONFIG")
    if not name:
        raise ConfigError(
            "(none)",
            ["rework writes EPCIS events: give --config LINE.toml (or $LINECTL_CONFIG)"],
        )
    return load_config(name).line


def _rework_api(args: argparse.Namespace, ledger: Ledger) -> Rework:
    return Rework(ledger, line_section(args))


def _rework(args: argparse.Namespace, ledger: Ledger, handler: ReworkHandler) -> int:
    """A rework step, electronically signed (21 CFR 11.50): password, then the step, then the
    signature over what it did."""
    name = args.config or os.environ.get("LINECTL_CONFIG")
    policy = load_config(name).identity if name else IdentitySection()
    identity = line_identity(ledger, policy)
    user, meaning = signer(identity, args.principal, "rework", args.meaning, args.password_stdin)
    result = handler(_rework_api(args, ledger), args)
    subject = f"{args.command} {args.sub}"
    record = {"command": subject, "reason": args.reason, "events": list(result.events)}
    sig = Signatures(identity).record(user, "rework", meaning, subject, record, args.reason)
    print(f"{args.sub} done (by {args.user}): {len(result.events)} events queued")
    print(f"signed by {sig.printed_name} ({sig.user_name}) at {sig.at}: {sig.meaning}")
    for kind, event_id in result.events:
        print(f"  event {kind}: {event_id}")
    for sscc in result.relabel:
        print(f"  relabel {sscc}: its count changed")
    return 0


def _who(args: argparse.Namespace) -> dict[str, Any]:
    return {"actor": args.user, "reason": args.reason}


def _remove(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.remove_unit(sscc_argument(a.case), a.serial, gtin=a.gtin, **_who(a))


def _add(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.add_unit(sscc_argument(a.case), a.serial, gtin=a.gtin, **_who(a))


def _replace(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.replace_unit(sscc_argument(a.case), a.old, a.new, gtin=a.gtin, **_who(a))


def _reopen(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.reopen(sscc_argument(a.sscc), **_who(a))


def _close(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.close(sscc_argument(a.sscc), **_who(a))


def _stack(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    cases = [sscc_argument(c) for c in a.cases]
    return rw.stack(sscc_argument(a.pallet), cases, **_who(a))


def _break(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.break_pallet(sscc_argument(a.pallet), **_who(a))


def _decommission(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.decommission(list(a.serials), gtin=a.gtin, **_who(a))


def _sample(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.sample(list(a.serials), gtin=a.gtin, **_who(a))


def _destroy(rw: Rework, a: argparse.Namespace) -> ReworkResult:
    return rw.destroy(list(a.serials), gtin=a.gtin, **_who(a))


def _trace_text(trace: SerialTrace, links: Sequence[ChainLink]) -> str:
    lines = [
        f"GTIN {trace.gtin}  serial {trace.serial}  batch {trace.batch}  state {trace.state.label}"
    ]
    lines.append("history:")
    for h in trace.history:
        before = h.from_state.label if h.from_state else "(received)"
        lines.append(f"  {h.at}  {before} -> {h.to_state.label}  by {h.actor}: {h.reason}")
    if trace.unit:
        u = trace.unit
        lines.append(
            f"unit: seq {u.seq}  verdict {verdict_text(u.verdict)}  grade {u.grade or '-'}  "
            f"reason {u.reason or '-'}  at {u.verdict_at}"
        )
        if u.tag is not None:  # read by the line's RFID reader station
            uri = f"  ({u.tag.epc_uri})" if u.tag.epc_uri else ""
            lines.append(f"tag: EPC {u.tag.epc}{uri}  TID {u.tag.tid or '-'}")
    lines += chain_lines(links)  # case, pallet: counts and aggregation events
    for e in trace.events:
        lines.append(f"event {e.kind}: {e.event_id}  [{e.delivery}]")
    return "\n".join(lines)


def cmd_trace(args: argparse.Namespace, ledger: Ledger) -> int:
    """A unit's history, its case and pallet, events and shipments (or a case's chain)."""
    serial, gtin, sscc = args.code, args.gtin, None
    if any(ch in serial for ch in "(/\x1d]"):  # a scanned code or HRI, not a bare serial
        scan = parse_scan(serial)
        if scan.serial is None and scan.sscc is None:
            raise ValidationError(
                "holds no serial (AI 21) or SSCC (AI 00)", field="code", value=args.code
            )
        serial, gtin, sscc = scan.serial or "", scan.gtin or gtin, scan.sscc
    trace: SerialTrace | None = None
    try:
        trace = None if sscc else ledger.trace(serial, gtin=gtin)
    except UnknownSerial:  # 18 digits with a good check digit: a case or pallet label
        if not (len(serial) == 18 and has_valid_check_digit(serial)):
            raise
        sscc = serial
    packed_in = trace.unit.container if trace and trace.unit else None
    links = ledger.containers.read(chain, sscc or packed_in)
    ssccs = [link.container.sscc for link in links]
    if args.json:
        data: dict[str, Any] = asdict(trace) if trace else {"sscc": sscc}
        if trace is not None and trace.unit is not None:  # the ledger's text, not the PLC code
            data["unit"]["verdict"] = verdict_text(trace.unit.verdict)
        if trace is not None:  # an NFC tag the label supplier encoded for it, if any
            data["nfc_uid"] = ledger.nfc.uid_of(trace.serial, trace.gtin)
        shipments = [asdict(s) for s in ledger.shipments.history(ssccs)]
        print(
            json.dumps(
                data | {"chain": [asdict(link) for link in links], "shipments": shipments},
                indent=2,
                default=str,
                ensure_ascii=False,
            )
        )
    elif trace is not None:
        uid = ledger.nfc.uid_of(trace.serial, trace.gtin)
        nfc = [f"NFC tag UID {uid} (encoded by the label supplier)"] if uid else []
        print("\n".join([_trace_text(trace, links), *nfc, *shipment_lines(ledger, ssccs)]))
    else:
        print("\n".join(chain_lines(links) + shipment_lines(ledger, ssccs)))
    return 0
