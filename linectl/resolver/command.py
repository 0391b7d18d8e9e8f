"""``linectl resolver``: serve, recall a lot, import product data, hash a password, purge scans.

    linectl resolver --config RESOLVER.toml                     # one worker, until SIGTERM
    linectl resolver recall --gtin G --lot L --reason TEXT      # the very next scan shows it
    linectl resolver import-products products.json|.csv
    linectl resolver hash-password                              # for [[brand_users]]
    linectl resolver purge-scans                                # older than scan_retention_days

The configuration comes from ``--config`` or ``$LINECTL_RESOLVER_CONFIG``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from linectl.config import ConfigError
from linectl.resolver.config import ResolverConfig, hash_password, load_resolver_config

T = TypeVar("T")
ENV = "LINECTL_RESOLVER_CONFIG"


def _config(args: argparse.Namespace) -> ResolverConfig:
    path = getattr(args, "resolver_config", None) or os.environ.get(ENV)
    if not path:
        raise ConfigError("resolver", [f"give --config RESOLVER.toml (or ${ENV})"])
    return load_resolver_config(path)


async def _with_store(config: ResolverConfig, work: Callable[[Any], Awaitable[T]]) -> T:
    from linectl.resolver.store import open_store

    store = await open_store(config.resolver.database, 1)
    try:
        return await work(store)
    finally:
        await store.close()


def _now_ms() -> int:
    from datetime import UTC, datetime

    return int(datetime.now(UTC).timestamp() * 1000)


def cmd_serve(args: argparse.Namespace) -> int:
    from linectl.logs import configure_logging
    from linectl.resolver.app import serve

    config = _config(args)
    configure_logging(args.log_level)
    # uvloop's event loop (libuv): a verification spends a third of its worker time in the loop's
    # callbacks, reader registrations and socket writes, which it does in C
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(config, lambda r: print(f"resolver: serving on {r.base_url}", flush=True)))
    return 0


def cmd_recall(args: argparse.Namespace) -> int:
    from standards.gs1.ai import validate_value

    validate_value("01", args.gtin)
    validate_value("10", args.lot)
    config = _config(args)

    async def work(store: Any) -> bool:
        return bool(await store.recall(args.gtin, args.lot, args.reason, _now_ms()))

    known = asyncio.run(_with_store(config, work))
    note = "" if known else " (no pack of this lot has been captured yet)"
    print(f"lot {args.lot} of GTIN {args.gtin} recalled: {args.reason}{note}")
    return 0


def cmd_import_products(args: argparse.Namespace) -> int:
    from linectl.resolver.products import ProductDataError, read_products

    config = _config(args)
    try:
        products = read_products(Path(args.file))
    except (OSError, ProductDataError) as exc:
        print(f"linectl resolver: {exc}", file=sys.stderr)
        return 2

    async def work(store: Any) -> int:
        return int(await store.upsert_products(products, _now_ms()))

    count = asyncio.run(_with_store(config, work))
    print(f"imported {count} products from {args.file}")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline()
    password = password.rstrip("\n")
    if len(password) < 12:
        print("linectl resolver: a password needs 12 characters or more", file=sys.stderr)
        return 2
    print(hash_password(password, salt=secrets.token_bytes(16)))
    return 0


def cmd_purge_scans(args: argparse.Namespace) -> int:
    config = _config(args)
    before = _now_ms() - config.resolver.scan_retention_days * 86_400_000

    async def work(store: Any) -> int:
        return int(await store.purge_scans(before))

    print(f"deleted {asyncio.run(_with_store(config, work))} scans")
    return 0


def add_resolver_commands(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    """``linectl resolver ...`` on the main parser."""
    p = add("resolver", cmd_serve, "the GS1 Digital Link resolver (serve, recall, import)")
    p.add_argument("--config", dest="resolver_config", metavar="RESOLVER.toml")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    actions = p.add_subparsers(dest="resolver_action", metavar="ACTION")

    def action(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        q = add(name, handler, text, actions)
        q.add_argument("--config", dest="resolver_config", metavar="RESOLVER.toml",
                       default=argparse.SUPPRESS)  # fmt: skip
        return q

    q = action("recall", cmd_recall, "mark a lot recalled; the next scan shows it")
    q.add_argument("--gtin", required=True)
    q.add_argument("--lot", required=True)
    q.add_argument("--reason", required=True)
    q = action("import-products", cmd_import_products, "import product master data")
    q.add_argument("file", metavar="FILE.json|FILE.csv")
    action("hash-password", cmd_hash_password, "hash a brand user's password (read from stdin)")
    action("purge-scans", cmd_purge_scans, "delete scans older than scan_retention_days")
