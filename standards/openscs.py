"""OPEN-SCS (OPC 30260) vocabulary: the numbers both the pool-manager client and server use.

Facts from the OPENSCS-SER nodeset (``Opc.Ua.OPENSCS.NodeSet2.xml``): the namespace URI, the
type ids the client browses for, and the two enumerations every method speaks.
"""

from __future__ import annotations

import enum

OPENSCS_URI = "http://opcfoundation.org/UA/OPENSCS-SER/"
RETURN_ENUM = 15001  # OPENSCSReturnEnum
STATE_ENUM = 15143  # OPENSCSSerialNumberStateEnum
COLLECTION_TYPE = 15005
SN_COLLECTION_TYPE = 15008
KEY_VALUE_TYPE = 15010
POOL_MANAGER_TYPE = 15032


class ReturnStatus(enum.IntEnum):
    """OPENSCSReturnEnum: the ``ReturnStatus`` output of every OPEN-SCS method."""

    Undefined0 = 0
    NoError1 = 1
    InvalidSerialNumberCollection2 = 2
    InsufficientSerialNumbers3 = 3
    InvalidSerialNumbersFormat4 = 4
    InvalidRequestToken5 = 5
    InvalidSelectionCriteria6 = 6
    UnableToAcceptSerialNumberEvents7 = 7
    UnableToAcceptLabelEvents8 = 8
    UnableToAcceptSIDEvents9 = 9
    UnknownAggregationSID10 = 10
    InsufficientPrivilegeToExecute11 = 11


class SerialNumberState(enum.IntEnum):
    """OPENSCSSerialNumberStateEnum: the state of the serials in a collection."""

    Unassigned0 = 0
    Unallocated1 = 1
    Allocated2 = 2
    SNInvalid3 = 3
    Encoded4 = 4
    LabelSampled5 = 5
    LabelScrapped6 = 6
    Commissioned7 = 7
    Sampled8 = 8
    Inactive9 = 9
    Destroyed10 = 10
    Released11 = 11
