"""OPEN-SCS (OPC 30260) wire vocabulary for the pool-manager client: enumerations and structures.

The structures are declared here from the specification instead of being generated from whatever
the server publishes: a server built from the official nodeset may lack a DataTypeDefinition for
``OPENSCSSNCollectionDataType`` (the nodeset has none), and the client must still decode it. Only
the namespace index and the Default Binary encoding NodeIds are read from the server, by browsing
each DataType's ``HasEncoding`` reference, so the client works whatever indexes the server uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.object_ids import ObjectIds

from standards.openscs import (
    COLLECTION_TYPE,
    KEY_VALUE_TYPE,
    OPENSCS_URI,
    SN_COLLECTION_TYPE,
)

_EMPTY = ua.String("")
_ZERO = ua.Int32(0)


@dataclass
class KeyValue:
    """OPENSCSKeyValueDataType: one pool selection criterion (e.g. GTIN, LOT, MARKET)."""

    Key: ua.String = _EMPTY
    Value: ua.String = _EMPTY


@dataclass
class SnCollection:
    """OPENSCSSNCollectionDataType: serials and their state (OPENSCSCollectionDataType fields)."""

    ID: ua.String = _EMPTY
    Description: ua.String = _EMPTY
    State: ua.Int32 = _ZERO
    AssociatedPoolID: ua.String = _EMPTY
    SerialNumbers: list[ua.String] = field(default_factory=list)


class OpenScsTypeError(RuntimeError):
    """The server lacks something of the OPEN-SCS information model the client needs."""


async def _default_binary(client: Client, datatype: ua.NodeId) -> ua.NodeId:
    refs = await client.get_node(datatype).get_references(
        refs=ObjectIds.HasEncoding, direction=ua.BrowseDirection.Forward
    )
    for ref in refs:
        if ref.BrowseName.Name == "Default Binary":
            encoding: ua.NodeId = ref.NodeId
            return encoding
    raise OpenScsTypeError(f"DataType {datatype.to_string()} has no Default Binary encoding")


def openscs_node(identifier: int, ns: int) -> ua.NodeId:
    """The NodeId ``ns=<ns>;i=<identifier>`` of an OPEN-SCS node."""
    return ua.NodeId(ua.Int32(identifier), ua.Int16(ns))


async def register_types(client: Client) -> int:
    """Make ``client`` encode and decode the OPEN-SCS structures; return the OPEN-SCS ns index."""
    try:
        ns = await client.get_namespace_index(OPENSCS_URI)
    except ValueError:
        raise OpenScsTypeError(f"the server has no namespace {OPENSCS_URI}") from None
    key_value = await _default_binary(client, openscs_node(KEY_VALUE_TYPE, ns))
    ua.register_extension_object("LinectlOpenScsKeyValue", key_value, KeyValue)
    # decode a collection sent with the abstract parent's encoding too (a server without the
    # subtype's definition does that); encode with the subtype's own, registered last
    for datatype in (COLLECTION_TYPE, SN_COLLECTION_TYPE):
        encoding = await _default_binary(client, openscs_node(datatype, ns))
        ua.register_extension_object("LinectlOpenScsSnCollection", encoding, SnCollection)
    return ns
