"""Central simulator: the site's OPEN-SCS pool manager (OPC UA) and EPCIS 2.0 repository (REST).

``python -m simulators central [options]`` or ``python -m simulators.central [options]``; see
:func:`add_arguments`. In-process: :class:`CentralSimulator` with a :class:`CentralConfig`.
"""

from __future__ import annotations

import argparse
import ssl
from pathlib import Path

from simulators.central.config import CentralConfig, CentralConfigError, CollectionSpec, load_config
from simulators.central.faults import Faults
from simulators.central.simulator import CentralSimulator, run_until_cancelled
from simulators.opcua_security import add_security_arguments, security_from_args

__all__ = [
    "CentralConfig",
    "CentralSimulator",
    "CollectionSpec",
    "Faults",
    "add_arguments",
    "config_from_args",
    "load_config",
    "serve",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the standalone central simulator (each overrides the --config file)."""
    p.add_argument("--config", type=Path, help="TOML file: collections, limits, faults")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--db", type=Path, help="SQLite file of the pool and repository (central.db)")
    p.add_argument("--opcua-port", type=int, help="OPC UA pool manager port (default 4841)")
    p.add_argument("--epcis-port", type=int, help="EPCIS REST port (default 8090)")
    p.add_argument("--admin-port", type=int, help="admin endpoint port (default 8091)")
    p.add_argument("--nodeset", type=Path, help="Opc.Ua.OPENSCS.NodeSet2.xml to load")
    p.add_argument("--schema", type=Path, help="EPCIS-JSON-Schema.json to validate against")
    p.add_argument("--no-opcua", action="store_true", help="serve the EPCIS repository only")
    p.add_argument("--max-sn-requestable", type=int, help="serials per request page (1000)")
    p.add_argument("--capture-limit", type=int, help="events per captured document (500)")
    p.add_argument("--file-size-limit", type=int, help="bytes per captured document")
    p.add_argument("--bearer-token", help="require Authorization: Bearer <token> on EPCIS")
    p.add_argument("--tls-cert", type=Path, help="serve EPCIS over HTTPS with this certificate")
    p.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    p.add_argument("--tls-client-ca", type=Path, help="require client certificates from this CA")
    p.add_argument("--seed", type=int, help="seed of the fault draws")
    p.add_argument("--delay", type=float, help="seconds added to every EPCIS answer")
    p.add_argument("--error-rate", type=float, help="probability of a 500 per EPCIS request")
    p.add_argument("--job-failure-rate", type=float, help="probability a capture job fails")
    p.add_argument("--job-failure-keep", type=int, help="events a failing job stores first")
    p.add_argument("--epcis-down", action="store_true", default=None, help="start with EPCIS down")
    add_security_arguments(p)  # the pool manager's --opcua-cert, --opcua-user, ...


def config_from_args(args: argparse.Namespace) -> CentralConfig:
    """The configuration: --config file first, then the single options over it."""
    return load_config(
        args.config,
        host=args.host,
        db_path=args.db,
        opcua_port=args.opcua_port,
        epcis_port=args.epcis_port,
        admin_port=args.admin_port,
        nodeset=args.nodeset,
        schema=args.schema,
        max_sn_requestable=args.max_sn_requestable,
        capture_limit=args.capture_limit,
        file_size_limit=args.file_size_limit,
        bearer_token=args.bearer_token,
        fault_seed=args.seed,
        fault_delay_s=args.delay,
        fault_error_rate=args.error_rate,
        fault_job_failure_rate=args.job_failure_rate,
        fault_job_failure_keep=args.job_failure_keep,
        fault_epcis_down=args.epcis_down,
    )


async def serve(args: argparse.Namespace) -> None:
    """Run the central simulator until cancelled."""
    config = config_from_args(args)
    context = None
    if args.tls_cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca is not None:
            context.load_verify_locations(args.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    try:
        security = security_from_args(args)
    except (ValueError, OSError) as exc:
        raise CentralConfigError(f"OPC UA security: {exc}") from None
    sim = CentralSimulator(
        config, serve_opcua=not args.no_opcua, ssl_context=context, opcua_security=security
    )
    await run_until_cancelled(sim)
