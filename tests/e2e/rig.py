"""A whole line for end-to-end tests: the simulators and the daemon in one event loop, real sockets.

The simulators (PLC on Modbus, ZPL printer, camera) share one VirtualLine that the PLC simulator
drives while the line is in Execute; the daemon (LineRuntime) talks to them through the real
drivers over 127.0.0.1 with ports chosen by the OS. Printer and PLC can sit behind a
:class:`LinkCutter`, so a test can take a device off the network and bring it back. With
``aggregation`` the line ends in a case packer with its case-label printer and reader
(:mod:`simulators.case_packer`), and the daemon packs cases and pallets; with
``case_check = "camera"`` in it, a case camera (:mod:`simulators.case_camera`) too. With
``verifier = "dmcc"`` or ``"keyence"`` a smart reader simulator stands at the camera station
instead of the camera, and the daemon verifies with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.invariants import (
    InvariantReport,
    OperatorView,
    check_invariants,
    operator_view,
    sync_outbox,
)
from harness.relay import LinkCutter
from linectl.config import LineConfig, parse_config
from linectl.ledger import Ledger, WorkOrderCode
from linectl.line.devices import LineDevices, connect_all, open_devices
from linectl.line.runtime import LineRuntime, RuntimeOptions
from simulators.camera import CameraSimulator
from simulators.case_camera import CaseCameraSimulator
from simulators.case_packer import CaseLabelPrinter, CasePacker, case_label_reader
from simulators.central import CentralSimulator
from simulators.line import Defect, FaultPlan, LineLayout, Station, VirtualLine
from simulators.plc import PlcSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from simulators.rfid_reader import RfidReaderSimulator, pack_field
from simulators.virtual_line import inlay_tags
from standards.gs1.checkdigit import check_digit
from standards.packml import PackMLState
from tests.e2e.rig_upstream import LogTap, start_central, tapped_log, upstream_section

GTIN = "0950600013435" + check_digit("0950600013435")
LOT = "L2611A"
EXPIRY = "281130"
BATCH = "B-E2E-1"
GUARD_S = 60.0  # no single wait in these tests may take longer than this
TEST_GUARD_S = 180.0  # nor a whole test body


class ScriptedFaults(FaultPlan):
    """Seeded defects like FaultPlan, defects forced on given packs, missed reject confirmations."""

    def __init__(
        self,
        seed: int = 0,
        rates: dict[Defect, float] | None = None,
        forced: dict[int, Defect] | None = None,
    ) -> None:
        super().__init__(seed=seed, rates=dict(rates or {}))
        self.forced = dict(forced or {})
        self.drawn = 0
        self.fail_confirms = 0  # the gate's sensor misses this many of the next rejects

    def draw(self) -> Defect | None:
        self.drawn += 1
        drawn = super().draw()
        return self.forced.get(self.drawn, drawn)

    def gate_fails_to_confirm(self) -> bool:
        if self.fail_confirms > 0:
            self.fail_confirms -= 1
            return True
        return False


@dataclass
class Rig:
    """Everything of one test line; the ground truth is in ``line``, ``printer`` and ``camera``."""

    tmp: Path
    line: VirtualLine
    plc: PlcSimulator
    printer: ZplPrinterSimulator
    camera: CameraSimulator | None  # None when a reader verifies (``reader``)
    ledger: Ledger
    config: LineConfig
    devices: LineDevices | None
    runtime: LineRuntime | None
    printer_link: LinkCutter | None = None
    plc_link: LinkCutter | None = None
    closers: list[Callable[[], Any]] = field(default_factory=list)
    packer: CasePacker | None = None
    case_printer: CaseLabelPrinter | None = None
    case_reader: Any = None  # a case-label reader simulator (DMCC)
    case_printer_link: LinkCutter | None = None  # cut_links with aggregation
    case_reader_link: LinkCutter | None = None
    camera_link: LinkCutter | None = None  # cut_links (the reader's, when a reader verifies)
    reader: Any = None  # the verifying reader simulator (verifier "dmcc" or "keyence")
    case_camera: CaseCameraSimulator | None = None  # aggregation with case_check = "camera"
    central: CentralSimulator | None = None  # upstream: the EPCIS repository events go to
    log: LogTap | None = None  # what the in-process daemon logged
    rfid_reader: RfidReaderSimulator | None = None  # the RFID reader station's LLRP simulator

    async def check_invariants(self, site: CentralSimulator | None = None) -> InvariantReport:
        """Assert the five invariants of issue 15 (see :meth:`invariants`)."""
        report = await self.invariants(site)
        print(report.summary())
        assert report.ok, report.summary() + "\n" + "\n".join(report.problems())
        return report

    async def invariants(self, site: CentralSimulator | None = None) -> InvariantReport:
        """The five invariants of issue 15 (harness.invariants), once the line has synced.

        With ``upstream`` (or a test's own central simulator ``site``) the line's own uplink
        stops and what the outbox still holds is sent, as ``linectl sync`` does; then the
        ledger's events are compared with the repository's.
        """
        central = None
        site = site or self.central
        if site is not None:
            if self.runtime is not None and self.runtime.uplink is not None:
                await self.runtime.uplink.close()
            await sync_outbox(self.ledger, site.epcis_url)
            assert site.store is not None
            central = await asyncio.to_thread(site.store.events)
        logs = [self.tmp / "print-log.jsonl"]
        return await asyncio.to_thread(check_invariants, self.ledger, logs, central=central)

    def operator_view(self) -> OperatorView:
        """What the in-process daemon's status and log tell the operator now."""
        status = self.rt.status() | {"alarms": self.rt.alarms()}
        return operator_view(status, self.log.text() if self.log is not None else "")

    def assert_told(self, code: str) -> OperatorView:
        """The line is not producing, and status and log name ``code`` with what to do."""
        view = self.operator_view()
        assert not view.resumed and view.ok, (view.state, view.told, view.problems)
        assert any(told.startswith(code + ": ") for told in view.told), (code, view.told)
        return view

    @property
    def rt(self) -> LineRuntime:
        assert self.runtime is not None, "this rig runs no daemon in process"
        return self.runtime

    async def wait(self, predicate: Callable[[], bool], guard: float = GUARD_S) -> None:
        """Wait for a condition on daemon or simulators (re-checked on every daemon change or
        PLC simulator change)."""
        async with asyncio.timeout(guard):
            while not predicate():
                waiters = {asyncio.ensure_future(self.plc.wait_for(predicate))}
                if self.runtime is not None:
                    waiters.add(asyncio.ensure_future(self.runtime.wait_for(predicate)))
                _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                for task in pending:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def wait_state(self, state: PackMLState, guard: float = GUARD_S) -> None:
        """Wait until the PLC simulator and the daemon's mirror both show ``state``."""

        def reached() -> bool:
            mirrored = self.runtime is None or self.runtime.plc_state is state
            return self.plc.state is state and mirrored

        await self.wait(reached, guard)

    def end_after(self, packs: int, *, not_before: int = 0) -> int:
        """The line feeds ``packs`` more packs (and at least ``not_before`` in all), then
        completes, never later than before: a test whose batch size only bounds the steps it
        takes while the line runs need not then wait for the rest. The batch's packs in all."""
        limit = max(self.line.next_seq - 1 + packs, not_before)
        self.line.packs_limit = min(limit, self.line.packs_limit or limit)
        return self.line.packs_limit

    def alarm(self, code: str) -> bool:
        return any(a["code"] == code for a in self.rt.alarms())

    def device(self, name: str) -> str:
        state: str = self.rt.status()["devices"][name]["state"]
        return state

    def units(self) -> dict[int, tuple[str, str, str | None]]:
        """seq -> (serial, verdict, reason) of every unit in the ledger (on its own connection)."""
        conn = sqlite3.connect(self.ledger.path)
        try:
            rows = conn.execute(
                "SELECT u.seq, s.serial, u.verdict, u.reason FROM units AS u "
                "JOIN serials AS s ON s.id = u.serial_id"
            ).fetchall()
        finally:
            conn.close()
        return {int(seq): (str(serial), str(v), reason) for seq, serial, v, reason in rows}

    def serial_states(self) -> dict[str, int]:
        conn = sqlite3.connect(self.ledger.path)
        try:
            return {str(s): int(st) for s, st in conn.execute("SELECT serial, state FROM serials")}
        finally:
            conn.close()


def serials(n: int, start: int = 0, prefix: str = "E") -> list[str]:
    return [f"{prefix}{i:07d}" for i in range(start, start + n)]


CASE_SSCC_PREFIX = "0950600"


def daemon_config(
    tmp: Path,
    plc_port: int,
    printer_port: int,
    camera_port: int,
    *,
    aggregation: dict[str, Any] | None = None,
    case_ports: tuple[int, int] | None = None,
    case_camera_port: int | None = None,
    line: dict[str, Any] | None = None,
    rfid: dict[str, Any] | None = None,
    ledger: Path | None = None,
    epcis_url: str | None = None,
    verifier: str = "camera",
    printer_options: dict[str, Any] | None = None,
    **thresholds: Any,
) -> LineConfig:
    data: dict[str, Any] = {
        "line": {
            "id": "e2e-line",
            "read_point": "urn:epc:id:sgln:0950600.01343.1",
            "biz_location": "urn:epc:id:sgln:0950600.01343.0",
            "company_prefix_length": 7,
        }
        | (line or {}),
        "ledger": {"path": str(ledger or tmp / "ledger.db")},
        "thresholds": {"min_grade": "C", "verdict_deadline_ms": 100.0} | thresholds,
        "devices": {
            "plc": {"kind": "plc", "protocol": "modbus", "host": "127.0.0.1", "port": plc_port,
                    "timeout_s": 0.5},
            "printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1",
                        "port": printer_port, "timeout_s": 0.5},
            "camera": {"kind": "camera", "protocol": "framepush", "host": "127.0.0.1",
                       "port": camera_port},
        },
    }  # fmt: skip
    if printer_options:
        data["devices"]["printer"]["options"] = printer_options
    if verifier != "camera":  # the reader verifies, on the camera's port
        reader = {"kind": "reader", "protocol": verifier, "host": "127.0.0.1"}
        data["devices"]["camera"] = reader | {"port": camera_port, "timeout_s": 0.5}
    if aggregation is not None and case_ports is not None:
        label = {"role": "case-label"}
        data["devices"] |= {
            "case-printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1",
                             "port": case_ports[0], "timeout_s": 0.5, "options": label},
            "case-reader": {"kind": "reader", "protocol": "dmcc", "host": "127.0.0.1",
                            "port": case_ports[1], "timeout_s": 0.5, "options": label},
        }  # fmt: skip
        data["aggregation"] = aggregation
        if case_camera_port is not None:
            data["devices"]["case-camera"] = {
                "kind": "camera", "protocol": "framepush", "host": "127.0.0.1",
                "port": case_camera_port, "options": {"role": "case-camera"},
            }  # fmt: skip
        data["upstream"] = {
            "sscc": {"source": "range", "company_prefix": CASE_SSCC_PREFIX, "extension_digit": 1,
                     "first_reference": 1, "last_reference": 999_999}
        }  # fmt: skip
    if epcis_url is not None:
        data.setdefault("upstream", {})["epcis"] = upstream_section(epcis_url)
    if rfid is not None:  # an RFID reader station: the [devices.rfid] table
        data["devices"]["rfid"] = {"kind": "rfid", "protocol": "llrp", "host": "127.0.0.1"} | rfid
    return parse_config(data)


@contextlib.asynccontextmanager
async def line_rig(
    tmp: Path,
    *,
    packs_per_minute: float = 1500.0,
    faults: FaultPlan | None = None,
    packs: int | None = None,
    pool: int = 500,
    cut_links: bool = False,
    rfid_reader: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    options: RuntimeOptions | None = None,
    wrap: Callable[[LineDevices], LineDevices] | None = None,
    prepare: Callable[[Ledger, PlcSimulator, ZplPrinterSimulator], Awaitable[None]] | None = None,
    daemon: bool = True,
    plc_watchdog_ms: int = 1000,
    aggregation: dict[str, Any] | None = None,
    quantity: int | None = None,
    code: WorkOrderCode | None = None,
    line_section: dict[str, Any] | None = None,
    ledger_path: Path | None = None,
    upstream: bool = False,
    verifier: str = "camera",
    printer_options: dict[str, Any] | None = None,
) -> AsyncIterator[Rig]:
    """Simulators + daemon, batch created with ``pool`` serials and the daemon started on it.

    ``prepare`` runs after the batch is created and before the daemon starts (to leave what a
    crash would have left); ``daemon=False`` starts no daemon (a test runs it as a process).
    ``aggregation`` (the ``[aggregation]`` table) adds the case packer, its label printer and
    reader, and the daemon's packing. ``quantity`` is the work order's (default: the larger of
    ``pool`` and ``packs``, so a batch refilled while it runs is not stopped at its first pool).
    ``rfid_reader``: the ``[devices.rfid]`` keys (options) of an RFID reader station; its LLRP
    simulator (``rig.rfid_reader``) reads the inlay of the pack at the camera station.
    ``code``: the batch's market code profile and code fields; ``line_section``: keys added to
    the daemon's ``[line]`` table; ``ledger_path``: the ledger elsewhere than ``tmp``;
    ``verifier``: "camera", or a smart reader ("dmcc", "keyence") that verifies instead.
    ``upstream``: an EPCIS repository (``rig.central``) in ``[upstream.epcis]``, and the
    in-process daemon sends its events there (``Rig.check_invariants`` compares them).
    ``printer_options``: the unit printer's ``[devices.printer.options]`` (``rfid = true``).
    """
    line = VirtualLine(LineLayout(packs_per_minute=packs_per_minute), faults or FaultPlan(seed=1))
    line.packs_limit = packs
    plc = PlcSimulator(
        line,
        opcua_port=None,
        drive_line=True,
        acting_time=0.02,
        heartbeat_timeout_ms=plc_watchdog_ms,
    )
    printer = ZplPrinterSimulator(line, log_path=tmp / "print-log.jsonl", seed=1)
    camera = CameraSimulator(line) if verifier == "camera" else None
    reader = None if camera is not None else verifying_reader(verifier, line)
    rfid = None
    if rfid_reader is not None:
        rfid = RfidReaderSimulator(pack_field(line, Station.CAMERA, inlay_tags), seed=1)
    async with contextlib.AsyncExitStack() as stack:
        tap = stack.enter_context(tapped_log())
        central = None
        if upstream:
            central = await start_central(tmp)
            stack.push_async_callback(central.close)
        await plc.start()
        stack.push_async_callback(plc.close)
        await printer.start()
        stack.push_async_callback(printer.close)
        source = camera or reader
        assert source is not None
        camera_port = await source.start()
        stack.push_async_callback(source.close)
        rfid_section = None
        if rfid is not None and rfid_reader is not None:
            rfid_section = rfid_reader | {"port": await rfid.start()}
            stack.push_async_callback(rfid.close)
        packer = case_printer = case_reader = case_camera = None
        case_ports: tuple[int, int] | None = None
        case_camera_port: int | None = None
        if aggregation is not None:
            packer = CasePacker(
                line,
                int(aggregation.get("case_size", 24)),
                int(aggregation.get("pallet_size", 40)),
                log_path=tmp / "cases.jsonl",
            )
            stack.callback(packer.close)
            case_printer = CaseLabelPrinter(packer)
            case_reader = case_label_reader("dmcc", packer, seed=1)
            case_ports = (await case_printer.start(), await case_reader.start())
            stack.push_async_callback(case_printer.close)
            stack.push_async_callback(case_reader.close)
            if aggregation.get("case_check") == "camera":
                case_camera = CaseCameraSimulator(packer, seed=1)
                case_camera_port = await case_camera.start()
                stack.push_async_callback(case_camera.close)
        plc_port, printer_port = plc.modbus_port, printer.port
        printer_link = plc_link = case_printer_link = case_reader_link = camera_link = None
        if cut_links:
            printer_link = LinkCutter(printer.port)
            printer_port = await printer_link.start()
            stack.push_async_callback(printer_link.close)
            plc_link = LinkCutter(plc.modbus_port)
            plc_port = await plc_link.start()
            stack.push_async_callback(plc_link.close)
            camera_link = LinkCutter(camera_port)
            camera_port = await camera_link.start()
            stack.push_async_callback(camera_link.close)
            if case_ports is not None:
                case_printer_link = LinkCutter(case_ports[0])
                case_reader_link = LinkCutter(case_ports[1])
                case_ports = (await case_printer_link.start(), await case_reader_link.start())
                stack.push_async_callback(case_printer_link.close)
                stack.push_async_callback(case_reader_link.close)
        config = daemon_config(
            tmp,
            plc_port,
            printer_port,
            camera_port,
            aggregation=aggregation,
            case_ports=case_ports,
            case_camera_port=case_camera_port,
            line=line_section,
            rfid=rfid_section,
            ledger=ledger_path,
            epcis_url=None if central is None else central.epcis_url,
            verifier=verifier,
            printer_options=printer_options,
            **(thresholds or {}),
        )
        ledger = Ledger(config.ledger.path)
        stack.callback(ledger.close)
        planned = quantity or max(pool, packs or 0)  # enforced: as much as the line will feed
        await asyncio.to_thread(_new_batch, ledger, pool, planned, code)
        if prepare is not None:
            await prepare(ledger, plc, printer)
        rig = Rig(tmp, line, plc, printer, camera, ledger, config, None, None, printer_link,
                  plc_link, packer=packer, case_printer=case_printer,
                  case_reader=case_reader, case_printer_link=case_printer_link,
                  case_reader_link=case_reader_link, camera_link=camera_link,
                  case_camera=case_camera, central=central, log=tap, reader=reader)  # fmt: skip
        rig.rfid_reader = rfid
        if daemon:
            devices = open_devices(config)
            stack.push_async_callback(devices.close)
            await connect_all(devices)
            if wrap is not None:
                devices = wrap(devices)
            runtime = LineRuntime(config, ledger, devices, options=options or RuntimeOptions())
            stack.push_async_callback(_bounded, runtime.shutdown)
            async with asyncio.timeout(GUARD_S):
                await runtime.start(BATCH)
            uplink = runtime.start_uplink()  # as the daemon does with [upstream]
            if uplink is not None:
                stack.push_async_callback(uplink.close)
            rig.devices, rig.runtime = devices, runtime
        with frozen_heap():
            async with asyncio.timeout(TEST_GUARD_S):  # a hung command fails the test, with a trace
                yield rig


def verifying_reader(protocol: str, line: VirtualLine) -> Any:
    """The smart reader simulator (DMCC or Keyence SR) that reads at the camera station."""
    if protocol == "dmcc":
        from simulators.reader_dmcc import DmccReaderSimulator

        return DmccReaderSimulator(line, seed=1)
    if protocol == "keyence":
        from simulators.reader_keyence import KeyenceReaderSimulator

        return KeyenceReaderSimulator(line, seed=1)
    raise ValueError(f"verifier {protocol!r}: camera, dmcc or keyence")


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the collector's full passes off what the test built before the line runs.

    The simulated PLC, printer and camera share this process with whatever the test set up
    first: an in-process OPC UA server (the central simulator) leaves ~450k long-lived objects,
    and one full collection over them stalled this loop for 200 ms on a busy 2-core machine,
    so the packs passing meanwhile got no frame in time (late, no-read, then no-print: five
    rejects in a row held the line). Real devices never pause together; the standalone
    simulator process freezes its start-up heap the same way (simulators.virtual_line).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _bounded(close: Callable[[], Awaitable[None]]) -> None:
    async with asyncio.timeout(GUARD_S):
        await close()


def _new_batch(ledger: Ledger, pool: int, quantity: int, code: WorkOrderCode | None) -> None:
    ledger.create_work_order(
        batch=BATCH,
        gtin=GTIN,
        lot=LOT,
        expiry=EXPIRY,
        quantity=quantity,
        target_market="DE",
        actor="tester",
        code=code,
    )
    if pool:
        ledger.import_serials(BATCH, GTIN, serials(pool), "tester")
