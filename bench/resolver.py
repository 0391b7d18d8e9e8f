"""Resolver benchmark: verifications/s and latency with 10 M serials, on SQLite and PostgreSQL.

Prints figures only (no pass/fail). For each backend it loads ``--serials`` commissioned serials
(10 GTINs, 100 lots each) and ``--scans`` past scans spread over three months, in bulk (COPY on
PostgreSQL, ``executemany`` on SQLite, 200,000 rows a transaction), then starts ``--workers``
resolver processes sharing one port (``reuse_port``) and drives ``GET /api/v1/verify`` from this
process with ``--concurrency`` requests in flight for ``--seconds``: random serials of the loaded
ones (every 50th a made-up one). Each verification is a real one: lookups, a logged scan, the
alert rules. PostgreSQL runs from Debian's binaries in a temporary directory (harness.postgres).

    python bench/resolver.py [--serials 10000000] [--scans 1000000] [--backend both]
                             [--workers 2] [--concurrency 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg

from harness.postgres import postgres_server
from harness.processes import REPO, free_port
from linectl.resolver.model import Product
from linectl.resolver.store import Store, open_store
from simulators.central.config import standards_dir
from standards.gs1.checkdigit import check_digit

GTINS = ["0950600" + f"{i:06d}" for i in range(10)]
GTINS = [g + check_digit(g) for g in GTINS]
LOTS = 100
CHUNK = 200_000
DAY_MS = 86_400_000
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)


def serial_of(n: int) -> str:
    """A 12-character serial for number ``n`` (spread, so the index is not filled in order)."""
    return f"{(n * 2_654_435_761) % 10**12:012d}"


def serial_rows(count: int) -> Iterator[tuple[object, ...]]:
    per_gtin = count // len(GTINS)
    for g, gtin in enumerate(GTINS):
        for i in range(per_gtin):
            lot = f"L{(i * LOTS) // per_gtin:03d}"
            yield (gtin, serial_of(g * per_gtin + i), lot, "2029-12-31", "commissioned",
                   NOW_MS - 90 * DAY_MS, NOW_MS - 90 * DAY_MS, 0)  # fmt: skip


def scan_rows(count: int, serials: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    per_gtin = serials // len(GTINS)
    countries = ["DE", "DE", "DE", "AT", "FR", "US"]
    for _ in range(count):
        n = rng.randrange(serials)
        yield (NOW_MS - rng.randrange(85 * DAY_MS), GTINS[n // per_gtin], None, serial_of(n),
               rng.choice(countries), "de", "genuine", "page")  # fmt: skip


def chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


async def load(url: str, serials: int, scans: int) -> float:
    """Bulk-load the data set; seconds taken."""
    started = time.perf_counter()
    store: Store = await open_store(url, 2)
    try:
        columns = ("gtin", "serial", "lot", "expiry", "status", "status_ms", "commissioned_ms",
                   "scan_count")  # fmt: skip
        done = 0
        for batch in chunks(serial_rows(serials)):
            await store.bulk_load("serials", columns, batch)
            done += len(batch)
            print(f"\r  serials {done:,}", end="", flush=True)
        lots = [(g, f"L{i:03d}", "2029-12-31", 0) for g in GTINS for i in range(LOTS)]
        await store.bulk_load("lots", ("gtin", "lot", "expiry", "recalled"), lots)
        for month in range(4):
            await store.ensure_month(NOW_MS - month * 28 * DAY_MS)
        scan_columns = ("at_ms", "gtin", "lot", "serial", "country", "language", "verdict",
                        "source")  # fmt: skip
        done = 0
        for batch in chunks(scan_rows(scans, serials, random.Random(7))):
            await store.bulk_load("scans", scan_columns, batch)
            done += len(batch)
            print(f"\r  serials {serials:,}, scans {done:,}", end="", flush=True)
        products = [Product(g, {"en": f"Bench product {i}"}, target_markets=("DE", "AT"))
                    for i, g in enumerate(GTINS)]  # fmt: skip
        await store.upsert_products(products, NOW_MS)
        if store.dialect == "postgresql":
            async with store.db.transaction() as tx:
                await tx.execute("ANALYZE")
    finally:
        await store.close()
    print()
    return time.perf_counter() - started


def write_config(root: Path, url: str, port: int, pool: int = 4) -> Path:
    (root / "session.key").write_text(secrets.token_hex(32))
    sha = hashlib.sha256(b"bench").hexdigest()
    path = root / "resolver.toml"
    path.write_text(f"""
[resolver]
listen_port = {port}
reuse_port = true
public_url = "http://127.0.0.1:{port}"
database = "{url}"
epcis_schema = "{standards_dir() / "epcis" / "EPCIS-JSON-Schema.json"}"
capture_tokens_sha256 = ["{sha}"]
session_key_file = "session.key"
pool_size = {pool}
""")
    return path


async def drive(base: str, serials: int, concurrency: int, seconds: float) -> list[float]:
    """Latencies (ms) of every verification completed in ``seconds``."""
    per_gtin = serials // len(GTINS)
    rng = random.Random(11)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while time.perf_counter() < deadline:
                n = rng.randrange(serials)
                serial = serial_of(n) if rng.random() > 0.02 else f"FAKE{n:08d}"
                code = f"{base}/01/{GTINS[n // per_gtin]}/21/{serial}"
                start = time.perf_counter()
                async with session.get(f"{base}/api/v1/verify", params={"code": code,
                                       "country": "DE"}) as response:  # fmt: skip
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"verify answered {response.status}")
                latencies.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def run_backend(name: str, url: str, args: argparse.Namespace, root: Path) -> None:
    print(f"== {name}: loading {args.serials:,} serials and {args.scans:,} scans")
    seconds = asyncio.run(load(url, args.serials, args.scans))
    print(f"  loaded in {seconds:.0f} s")
    port = free_port()
    config = write_config(root, url, port)
    argv = [sys.executable, "-m", "linectl.cli", "resolver", "--config", str(config), "--log-level",
            "WARNING"]  # fmt: skip
    workers = [
        subprocess.Popen(
            argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for _ in range(args.workers)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            worker.stdout.readline()  # "resolver: serving on ..."
        base = f"http://127.0.0.1:{port}"
        asyncio.run(drive(base, args.serials, args.concurrency, 2.0))  # warm-up
        latencies = asyncio.run(drive(base, args.serials, args.concurrency, args.seconds))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=20)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    rate = len(latencies) / args.seconds
    print(f"  {name}: {rate:,.0f} verifications/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"({args.workers} workers, {args.concurrency} in flight, {len(latencies):,} in "
          f"{args.seconds:g} s)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--serials", type=int, default=10_000_000)
    p.add_argument("--scans", type=int, default=1_000_000)
    p.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="linectl-bench-resolver-") as tmp:
        root = Path(tmp)
        if args.backend in ("sqlite", "both"):
            run_backend("SQLite", f"sqlite:///{root / 'resolver.db'}", args, root)
        if args.backend in ("postgresql", "both"):
            with postgres_server() as server:
                with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE bench")
                run_backend("PostgreSQL", server.url("bench"), args, root)


if __name__ == "__main__":
    main()
