"""Resolver benchmark: verifications/s and latency with 10 M serials, on SQLite and PostgreSQL.

Prints figures only (no pass/fail). For each backend it loads ``--serials`` commissioned serials
(10 GTINs, 100 lots each) and ``--scans`` past scans spread over three months, in bulk (COPY on
PostgreSQL, ``executemany`` on SQLite, 200,000 rows a transaction; each serial's scan count then
set from the loaded scans), then starts ``--workers`` resolver processes sharing one port
(``reuse_port``) and drives ``GET /api/v1/verify`` from a separate client process (a bare
keep-alive HTTP/1.1 client, ``--concurrency`` connections each with one request in flight) for
``--seconds``, ``--runs`` times: random serials of the loaded ones (every 50th a made-up one).
Each verification is a real one: lookups, a logged scan, the alert rules. Each run prints the
rate, p50/p99, the load average, and the CPU seconds the workers, the PostgreSQL server and the
client used. PostgreSQL runs from Debian's binaries (harness.postgres) with durable commits
(``fsync`` and ``synchronous_commit`` on, as in production) unless ``--fsync off`` (as in the
tests).

The server runs with the settings docs/resolver.md gives for production (``shared_buffers``
that hold the serials, room for the WAL; ``--pg-setting NAME=VALUE`` adds or overrides one),
and the serials are read into its buffers (``pg_prewarm``) before the runs, as a server that
has been answering for a while holds them.

``--data DIR`` keeps the databases in DIR and loads them only once: later runs reuse them (the
scans the runs log stay in them, a few per cent of the loaded ones). Each invocation draws new
serials (``--seed`` repeats a sequence): with a fixed sequence, every invocation on kept data
would scan the same serials again, until each raised a too-many-scans alert on every scan.
``--workers-from DIR`` runs the workers from another checkout (say the previous commit, for a
before / after comparison on the same data and server).

    python bench/resolver.py [--serials 10000000] [--scans 1000000] [--backend both]
                             [--workers 2] [--pool 4] [--concurrency 16] [--seconds 20]
                             [--runs 3] [--data DIR] [--fsync on] [--pg-setting NAME=VALUE]
                             [--workers-from DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
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
from urllib.parse import quote

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
#: docs/resolver.md "PostgreSQL settings": the serials (1.5 GB) and their index (0.65 GB) in
#: shared buffers, room for the WAL between checkpoints.
PG_SETTINGS = {"shared_buffers": "3GB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


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
        await store.bulk_recount()
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


async def drive(
    base: str, serials: int, concurrency: int, seconds: float, seed: int
) -> list[float]:
    """Latencies (ms) of every verification completed in ``seconds``.

    A bare HTTP/1.1 keep-alive client on asyncio streams (one connection per request in flight):
    it costs the shared CPU a fraction of what a full client library does.
    """
    per_gtin = serials // len(GTINS)
    rng = random.Random(seed)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    host, _, port = base.removeprefix("http://").partition(":")

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                n = rng.randrange(serials)
                serial = serial_of(n) if rng.random() > 0.02 else f"FAKE{n:08d}"
                code = quote(f"{base}/01/{GTINS[n // per_gtin]}/21/{serial}", safe="")
                start = time.perf_counter()
                writer.write(
                    f"GET /api/v1/verify?code={code}&country=DE HTTP/1.1\r\n"
                    f"Host: {host}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().partition(b"content-length:")[2].split(b"\r\n")[0])
                await reader.readexactly(length)
                if head[9:12] != b"200":
                    raise RuntimeError(f"verify answered {head[:12]!r}")
                latencies.append((time.perf_counter() - start) * 1000)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def client_process(
    base: str, serials: int, concurrency: int, seconds: float, seed: int
) -> tuple[list[float], float]:
    """In the client process: the latencies, and the CPU seconds the client itself used."""
    before = os.times()
    latencies = asyncio.run(drive(base, serials, concurrency, seconds, seed))
    after = os.times()
    return latencies, (after.user - before.user) + (after.system - before.system)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids(data_dir: Path | None) -> list[int]:
    """The postmaster of ``data_dir`` and its children (the backends serving the workers)."""
    if data_dir is None:
        return []
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
    return pids


def loaded(root: Path, name: str, url: str, args: argparse.Namespace) -> None:
    """Load the data set unless ``root`` holds it already (``--data``)."""
    marker = root / f"{name.lower()}.loaded"
    wanted = f"{args.serials} {args.scans}\n"
    if marker.exists() and marker.read_text() == wanted:
        print(f"== {name}: reusing the loaded {args.serials:,} serials and {args.scans:,} scans")
        return
    print(f"== {name}: loading {args.serials:,} serials and {args.scans:,} scans")
    seconds = asyncio.run(load(url, args.serials, args.scans))
    marker.write_text(wanted)
    print(f"  loaded in {seconds:.0f} s")


def prewarm(url: str) -> None:
    """Read the serials, their index and the lots into PostgreSQL's buffers."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for relation in ("serials", "serials_pkey", "lots", "lots_pkey", "products"):
            conn.execute("SELECT pg_prewarm(%s)", (relation,))
    print(f"  prewarmed the serials in {time.perf_counter() - started:.0f} s")


def run_backend(
    name: str, url: str, args: argparse.Namespace, root: Path, pg_data: Path | None = None
) -> None:
    loaded(root, name, url, args)
    if pg_data is not None:
        prewarm(url)
    port = free_port()
    config = write_config(root, url, port, args.pool)
    argv = [sys.executable, "-m", "linectl.cli", "resolver", "--config", str(config), "--log-level",
            "WARNING"]  # fmt: skip
    source, env = REPO, None
    if args.workers_from is not None:
        source = args.workers_from.resolve()
        env = os.environ | {"PYTHONPATH": str(source)}
    workers = [
        subprocess.Popen(
            argv, cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for _ in range(args.workers)
    ]
    spawn = multiprocessing.get_context("spawn")
    try:
        for worker in workers:
            assert worker.stdout is not None
            worker.stdout.readline()  # "resolver: serving on ..."
        base = f"http://127.0.0.1:{port}"
        with spawn.Pool(1) as pool:
            seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
            print(f"  client seed {seed}")
            pool.apply(client_process, (base, args.serials, args.concurrency, 2.0, seed))  # warm-up
            for run in range(args.runs):
                server_pids = [w.pid for w in workers]
                db_pids = postgres_pids(pg_data)
                server0, db0 = cpu_seconds(server_pids), cpu_seconds(db_pids)
                latencies, client_cpu = pool.apply(
                    client_process,
                    (base, args.serials, args.concurrency, args.seconds, seed + 1 + run),
                )
                server_cpu = cpu_seconds(server_pids) - server0
                db_cpu = cpu_seconds(db_pids) - db0
                report(name, args, latencies, server_cpu, db_cpu, client_cpu)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=20)


def report(
    name: str,
    args: argparse.Namespace,
    latencies: list[float],
    server_cpu: float,
    db_cpu: float,
    client_cpu: float,
) -> None:
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    rate = len(latencies) / args.seconds
    n = len(latencies)
    load1 = os.getloadavg()[0]
    per = f"{server_cpu / n * 1e6:.0f} us workers" + (
        f" + {db_cpu / n * 1e6:.0f} us PostgreSQL (fsync {args.fsync})" if db_cpu else ""
    )
    print(f"  {name}: {rate:,.0f} verifications/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"({args.workers} workers, pool {args.pool}, {args.concurrency} in flight, {n:,} in "
          f"{args.seconds:g} s; load {load1:.2f}; CPU per verification {per}, client "
          f"{client_cpu / n * 1e6:.0f} us)", flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--serials", type=int, default=10_000_000)
    p.add_argument("--scans", type=int, default=1_000_000)
    p.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--pool", type=int, default=4, help="PostgreSQL connections per worker")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data", type=Path, help="keep the databases here and reuse them")
    p.add_argument(
        "--fsync",
        choices=("on", "off"),
        default="on",
        help="PostgreSQL's fsync and synchronous_commit (on: durable commits)",
    )
    p.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                   help=f"a PostgreSQL setting (default: {PG_SETTINGS})")  # fmt: skip
    p.add_argument("--seed", type=int, help="the client's serials (default: new ones each time)")
    p.add_argument("--workers-from", type=Path, metavar="DIR",
                   help="run the workers from this checkout of linectl")  # fmt: skip
    args = p.parse_args()
    with contextlib.ExitStack() as stack:
        if args.data is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="linectl-bench-")))
        else:
            root = args.data.resolve()
            root.mkdir(parents=True, exist_ok=True)
        if args.backend in ("sqlite", "both"):
            run_backend("SQLite", f"sqlite:///{root / 'resolver.db'}", args, root)
        if args.backend in ("postgresql", "both"):
            pg_root = root / "postgresql" if args.data is not None else None
            settings = PG_SETTINGS | dict(s.split("=", 1) for s in args.pg_setting)
            print(f"== PostgreSQL settings: fsync {args.fsync}, {settings}")
            with postgres_server(pg_root, fsync=args.fsync == "on", settings=settings) as server:
                if not (root / "postgresql.loaded").exists():
                    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                        if not conn.execute(
                            "SELECT 1 FROM pg_database WHERE datname = 'bench'"
                        ).fetchone():
                            conn.execute("CREATE DATABASE bench")
                data_dir = server_data_dir(server.url("postgres"))
                run_backend("PostgreSQL", server.url("bench"), args, root, data_dir)


def server_data_dir(url: str) -> Path:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    return Path(str(row[0]))


if __name__ == "__main__":
    main()
