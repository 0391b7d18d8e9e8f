"""The resolver part of ``make demo``: scan to verify the packs the demo batch just made.

It starts ``linectl resolver`` on its embedded SQLite in ``var/demo/resolver/``, imports the demo
product, lets ``linectl sync`` send the batch's EPCIS events to it exactly as a line sends them
upstream, adds one pack of a second lot and recalls that lot (``linectl resolver recall``), checks
the verdicts of a good pack, a rejected pack and the recalled one, and prints their verification
links. The resolver is stopped afterwards; the printed command starts it again on the same port
so the links can be opened in a browser (opening one counts as a scan).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from harness.processes import REPO, Child, DemoError, DemoFiles, free_port, toml_text
from linectl.ledger.unit_rows import UnitRow
from linectl.resolver.config import hash_password
from standards.epcis.document import epcis_document
from standards.epcis.events import commissioning_event
from standards.gs1.epc import sgtin_urn

RECALL_LOT = "DEMO01R"
RECALL_SERIAL = "RECALLDEMO01"
BRAND_PASSWORD = "demo-brand-password"  # the demo's dashboard login (brand / this)


@dataclass
class ResolverDemo:
    """The three verification links and what the resolver answered for each pack."""

    links: dict[str, str] = field(default_factory=dict)
    verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """kind -> (expected verdict, the resolver's verdict)"""
    restart: str = ""
    dashboard: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(want == got for want, got in self.verdicts.values())

    def lines(self) -> list[str]:
        out = ["", "Scan to verify (linectl resolver on SQLite, fed by linectl sync): open a link"]
        for kind, (want, got) in self.verdicts.items():
            mark = "" if want == got else f"  WRONG (expected {want})"
            out.append(f"  {kind:<14} {got:<9} {self.links[kind]}{mark}")
        out.append(
            "  (the good pack's verdict was checked on its neighbour: its first scan is yours)"
        )
        out.append(f"  brand dashboard: {self.dashboard} (user brand, password {BRAND_PASSWORD})")
        out.append(f"  to open the links, start the resolver again: {self.restart}")
        out.append(f"resolver: {'OK' if self.ok else 'FAILED'}")
        return out


def _cli(files: DemoFiles, name: str, *argv: str) -> None:
    """Run ``linectl ARGV`` to its end; a failure is a DemoError with its output."""
    child = Child(name, [sys.executable, "-m", "linectl.cli", *argv], files.root / f"{name}.log")
    try:
        code = child.proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        child.stop()
        raise DemoError(f"linectl {' '.join(argv)} did not finish in 180 s") from None
    if code != 0:
        raise DemoError(f"linectl {' '.join(argv)} failed ({code}):\n{child.tail()}")


def _write_config(root: Path, port: int, standards: Path, token: str) -> Path:
    (root / "session.key").write_text(secrets.token_hex(32), encoding="utf-8")
    sha = hashlib.sha256(token.encode()).hexdigest()
    data: dict[str, Any] = {
        "resolver": {
            "listen_host": "127.0.0.1",
            "listen_port": port,
            "public_url": f"http://127.0.0.1:{port}",
            "database": "sqlite:///resolver.db",
            "epcis_schema": str(standards / "epcis" / "EPCIS-JSON-Schema.json"),
            "capture_tokens_sha256": [sha],
            "session_key_file": "session.key",
        },
    }
    password_hash = hash_password(BRAND_PASSWORD, salt=b"linectl-demo-salt")
    brand = f'\n[[brand_users]]\nname = "brand"\npassword_hash = "{password_hash}"\n'
    path = root / "resolver.toml"
    path.write_text(toml_text(data) + brand, encoding="utf-8")
    return path


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when it is inside it (shorter to read)."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def _products(root: Path, gtin: str, market: str) -> Path:
    path = root / "products.json"
    product = {
        "gtin": gtin,
        "names": {"en": "Demo tablets 20 x 400 mg", "de": "Demo-Tabletten 20 x 400 mg",
                  "fr": "Comprimés de démonstration 20 x 400 mg"},
        "links": {"gs1:pip": {"en": "https://linectl.dev/demo/product"}},
        "target_markets": [market],
    }  # fmt: skip
    path.write_text(json.dumps({"products": [product]}, indent=1), encoding="utf-8")
    return path


def _post(url: str, body: bytes, token: str) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/ld+json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def _verdict(base: str, code: str) -> str:
    query = urllib.parse.urlencode({"code": code})
    with urllib.request.urlopen(f"{base}/api/v1/verify?{query}", timeout=30) as response:
        return str(json.loads(response.read())["verdict"])


def run_resolver_demo(
    files: DemoFiles,
    units: Mapping[int, UnitRow],
    work_order: Mapping[str, str],
    standards: Path,
    out: TextIO,
) -> ResolverDemo:
    """Everything in the module docstring; ``work_order`` has gtin, lot and market."""
    gtin, lot, market = work_order["gtin"], work_order["lot"], work_order["market"]
    good = [u.serial for _, u in sorted(units.items()) if u.verdict == "good"]
    bad = [u.serial for _, u in sorted(units.items()) if u.verdict != "good"]
    if len(good) < 2 or not bad:
        raise DemoError("the demo batch needs two good packs and one reject for the resolver demo")
    root = files.root / "resolver"
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    (root / "capture.token").write_text(token, encoding="utf-8")
    port = free_port()
    config = _write_config(root, port, standards, token)
    base = f"http://127.0.0.1:{port}"
    products = _products(root, gtin, market)
    _cli(files, "resolver-import", "resolver", "import-products", str(products), "--config",
         str(config))  # fmt: skip
    server = Child("resolver", [sys.executable, "-m", "linectl.cli", "resolver", "--config",
                                str(config)], root / "resolver.log")  # fmt: skip
    try:
        server.wait_line("resolver: serving on", timeout=60)
        print(f"resolver up (pid {server.pid}) on {base}", file=out)
        line = tomllib.loads(files.config.read_text(encoding="utf-8"))
        line["upstream"] = {"epcis": {"base_url": base, "token_file": str(root / "capture.token"),
                                      "backoff_initial_s": 0.2, "backoff_max_s": 2.0}}  # fmt: skip
        sync_config = root / "line-sync.toml"
        sync_config.write_text(toml_text(line), encoding="utf-8")
        print(f"$ linectl --config {_shown(sync_config)} sync", file=out)
        _cli(files, "resolver-sync", "--config", str(sync_config), "--token-file",
             str(files.token), "sync", "--timeout", "120")  # fmt: skip
        extra = commissioning_event(
            [sgtin_urn(gtin, RECALL_SERIAL, 7)], event_time=datetime.now(UTC),
            read_point="urn:epc:id:sgln:4012345.00001.0", lot=RECALL_LOT, expiry=date(2028, 11, 30),
        )  # fmt: skip
        body = json.dumps(epcis_document([extra], creation_date=datetime.now(UTC))).encode()
        if _post(f"{base}/capture", body, token) != 202:
            raise DemoError("the resolver refused the recall example's commissioning event")
        reason = "demo recall: wrong leaflet"
        print(
            f"$ linectl resolver recall --gtin {gtin} --lot {RECALL_LOT} --reason '{reason}'",
            file=out,
        )
        _cli(files, "resolver-recall", "resolver", "recall", "--config", str(config),
             "--gtin", gtin, "--lot", RECALL_LOT, "--reason", reason)  # fmt: skip
        demo = ResolverDemo()
        packs = {  # kind -> (lot, serial whose link is printed, serial checked, expected verdict)
            "good pack": (lot, good[1], good[0], "genuine"),  # a sibling is checked: the
            "rejected pack": (lot, bad[0], bad[0], "unknown"),  # printed link stays unscanned
            "recalled lot": (RECALL_LOT, RECALL_SERIAL, RECALL_SERIAL, "recalled"),
        }
        for kind, (pack_lot, shown, checked, expected) in packs.items():
            demo.links[kind] = f"{base}/verify/01/{gtin}/10/{pack_lot}/21/{shown}"
            code = f"{base}/01/{gtin}/10/{pack_lot}/21/{checked}"
            demo.verdicts[kind] = (expected, _verdict(base, code))
        demo.restart = f".venv/bin/linectl resolver --config {_shown(config)}"
        demo.dashboard = f"{base}/brand"
        return demo
    finally:
        server.stop()
