"""Run a simulator alone, or a whole virtual line: ``python -m simulators <device> [options]``.

python -m simulators printer --protocol zpl --port 9100
python -m simulators printer --protocol wsi --port 3100
python -m simulators reader --protocol dmcc --port 2300
python -m simulators reader --protocol keyence --port 9004
python -m simulators rfid --port 5084
python -m simulators camera --port 19200
python -m simulators plc --modbus-port 5020 --opcua-port 4840
python -m simulators line --config config/demo-line.toml
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import sys
from types import ModuleType

# device -> protocol -> module holding add_arguments(parser) and async serve(args)
_MODULES: dict[str, dict[str, str]] = {
    "printer": {"zpl": "simulators.printer_zpl", "wsi": "simulators.printer_wsi"},
    "reader": {"dmcc": "simulators.reader_dmcc", "keyence": "simulators.reader_keyence"},
    "rfid": {"llrp": "simulators.rfid_reader"},
    "camera": {"framepush": "simulators.camera"},
    "plc": {"modbus+opcua": "simulators.plc"},
    "line": {"all": "simulators.virtual_line"},
    "central": {"sim": "simulators.central"},
}


def _load(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SystemExit(f"simulator module {module} cannot be loaded: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m simulators", description=summary)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="device", required=True)
    for device, protocols in _MODULES.items():
        p = sub.add_parser(device, help=f"simulate a {device}")
        if len(protocols) > 1:
            p.add_argument("--protocol", choices=sorted(protocols), required=True)
        p.set_defaults(protocols_of_device=protocols)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    first_pass = [a for a in argv if a not in ("-h", "--help")]
    if not first_pass or (first_pass[0].startswith("-") and len(first_pass) == len(argv)):
        parser.parse_args(argv)  # no device named: top-level help or usage error
    known, _ = parser.parse_known_args(first_pass)
    protocols: dict[str, str] = known.protocols_of_device
    if len(protocols) > 1:
        module_name = protocols[known.protocol]
    else:
        module_name = next(iter(protocols.values()))
    module = _load(module_name)
    # second pass: let the chosen simulator add its own options
    parser = build_parser()
    # argparse has no public way to reach a sub-parser once built
    sub_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    module.add_arguments(sub_action.choices[known.device])
    args = parser.parse_args(argv)
    log_format = "%(asctime)s %(levelname)s %(name)s %(message)s"
    logging.basicConfig(level=args.log_level, format=log_format)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(module.serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
