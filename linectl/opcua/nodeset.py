"""Where the PackML NodeSet (OPC 30050) is found, and the few facts the server checks in it.

The types are imported from the publisher's file at start, never typed here: the address
space's PackML types are exactly those of the file (tests/opcua compares them).
"""

from __future__ import annotations

import os
from pathlib import Path

from linectl.config import OpcuaSection

PACKML_URI = "http://opcfoundation.org/UA/PackML/"
LINECTL_URI = "urn:linectl:serialization"
"""The namespace of linectl's own nodes: the line object and its serialization data."""
NODESET_RELATIVE = Path("opcua/PackML/Opc.Ua.PackML.NodeSet2.xml")
SOURCE = "https://github.com/OPCFoundation/UA-Nodeset (PackML/Opc.Ua.PackML.NodeSet2.xml)"


class NodesetError(Exception):
    """The PackML NodeSet cannot be used; the message names the file and what to do."""


def default_nodeset() -> Path:
    """``$LINECTL_STANDARDS`` or ``../shared/standards`` beside the checkout, + the PackML file."""
    override = os.environ.get("LINECTL_STANDARDS")
    root = Path(override) if override else Path(__file__).resolve().parents[3] / "shared/standards"
    return root / NODESET_RELATIVE


def nodeset_path(config: OpcuaSection) -> Path:
    """The configured NodeSet file, checked to be the PackML model (blocking: reads it)."""
    path = config.nodeset or default_nodeset()
    try:
        head = path.read_bytes()[:8192].decode("utf-8", errors="replace")
    except OSError as exc:
        raise NodesetError(
            f"cannot read the PackML NodeSet {path}: {exc.strerror or exc}; set [opcua] nodeset "
            f"to Opc.Ua.PackML.NodeSet2.xml from {SOURCE}"
        ) from None
    if f'ModelUri="{PACKML_URI}"' not in head:
        raise NodesetError(f"{path} is not the PackML NodeSet: it does not define {PACKML_URI}")
    return path
