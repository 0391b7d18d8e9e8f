"""``python -m simulators.central``: run the central simulator alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from simulators.central import add_arguments, serve
from simulators.central.config import CentralConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.central",
        description="OPEN-SCS pool manager (OPC UA) and EPCIS 2.0 repository, with faults",
    )
    parser.add_argument("--log-level", default="INFO")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args))
    except (CentralConfigError, FileNotFoundError) as exc:
        print(f"central simulator: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
