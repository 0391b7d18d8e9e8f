"""The central simulator's persistent serial pool, without OPC UA: issue, page, return, expire."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from simulators.central.config import CentralConfigError, CollectionSpec, load_config
from simulators.central.serial_pool import SerialPool, TooManySerials
from standards.gs1.checkdigit import has_valid_check_digit
from standards.gs1.epc import parse_urn
from standards.openscs import ReturnStatus
from standards.openscs import SerialNumberState as SerialState
from tests.simulators.central.harness import GTIN_ITEMS, TEST_COLLECTIONS

ALLOCATED = SerialState.Allocated2


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _pool(tmp_path: Path, clock: Clock | None = None, **kw: object) -> SerialPool:
    return SerialPool(
        tmp_path / "pool.db",
        TEST_COLLECTIONS,
        max_sn_requestable=500,
        page_size=100,
        token_ttl_s=60,
        clock=clock or Clock(),
        **kw,  # type: ignore[arg-type]
    )


def _all(pool: SerialPool, count: int, collection: str = "ITEMS", fmt: str = "") -> list[str]:
    answer = pool.request(ALLOCATED, collection, count, fmt, [], "")
    serials = list(answer.serials)
    while answer.token:
        answer = pool.request(ALLOCATED, collection, count, fmt, [], answer.token)
        serials += answer.serials
    return serials


def test_item_serials_are_random_numeric_without_a_leading_zero(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    serials = _all(pool, 500)
    assert len(set(serials)) == 500
    assert all(re.fullmatch(r"[1-9]\d{11}", s) for s in serials)
    assert serials != sorted(serials)  # not a counter


def test_a_restart_with_the_same_random_sequence_never_reissues(tmp_path: Path) -> None:
    first = _pool(tmp_path, rng=random.Random(5))
    issued = _all(first, 300)
    first.close()
    again = _pool(tmp_path, rng=random.Random(5))  # draws the same candidates first
    later = _all(again, 300)
    assert not set(issued) & set(later)
    assert len(again.issued("ITEMS")) == 600


def test_a_request_reserves_its_count_and_pages_it(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    first = pool.request(ALLOCATED, "ITEMS", 250, "SERIALONLY", [("GTIN", GTIN_ITEMS)], "")
    assert first.status is ReturnStatus.NoError1 and len(first.serials) == 100 and first.token
    assert pool.stats()["ITEMS"]["available"] == 1_000_000 - 250


def test_more_than_max_requestable_in_one_call_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TooManySerials, match="MaxSNRequestable 500"):
        _pool(tmp_path).request(ALLOCATED, "ITEMS", 501, "", [], "")


def test_an_expired_request_gives_its_unissued_rest_back(tmp_path: Path) -> None:
    clock = Clock()
    pool = _pool(tmp_path, clock)
    first = pool.request(ALLOCATED, "TINY", 25, "", [], "")
    assert len(first.serials) == 25  # one page: TINY's page size is still 100
    pool_small = pool.request(ALLOCATED, "TINY", 10, "", [], "")
    assert pool_small.status is ReturnStatus.InsufficientSerialNumbers3
    assert len(pool_small.serials) == 5
    clock.now += 61
    assert pool.request(ALLOCATED, "TINY", 1, "", [], "not-a-token").status is (
        ReturnStatus.InvalidRequestToken5
    )
    assert pool.stats()["TINY"]["available"] == 0  # everything was handed out


def test_an_expired_token_is_invalid_and_its_reservation_released(tmp_path: Path) -> None:
    clock = Clock()
    pool = _pool(tmp_path, clock)
    first = pool.request(ALLOCATED, "ITEMS", 300, "", [], "")
    clock.now += 61
    stale = pool.request(ALLOCATED, "ITEMS", 300, "", [], first.token)
    assert stale.status is ReturnStatus.InvalidRequestToken5
    assert pool.stats()["ITEMS"]["available"] == 1_000_000 - 100


@pytest.mark.parametrize(
    ("collection", "criteria", "fmt", "status"),
    [
        ("NOPE", [], "", ReturnStatus.InvalidSerialNumberCollection2),
        ("ITEMS", [("COLOUR", "red")], "", ReturnStatus.InvalidSelectionCriteria6),
        ("ITEMS", [("GTIN", "04012345000023")], "", ReturnStatus.InvalidSelectionCriteria6),
        ("ITEMS", [("MARKET", "US")], "", ReturnStatus.InvalidSelectionCriteria6),
        ("ITEMS", [("LOT", "has space")], "", ReturnStatus.InvalidSelectionCriteria6),
        ("", [("GTIN", "04012345000047")], "", ReturnStatus.InvalidSelectionCriteria6),
        ("ITEMS", [], "LITERAL", ReturnStatus.InvalidSerialNumbersFormat4),
        ("LOCKED", [], "", ReturnStatus.InsufficientPrivilegeToExecute11),
    ],
)
def test_requests_that_cannot_be_served_say_why(
    tmp_path: Path,
    collection: str,
    criteria: list[tuple[str, str]],
    fmt: str,
    status: ReturnStatus,
) -> None:
    answer = _pool(tmp_path).request(ALLOCATED, collection, 5, fmt, criteria, "")
    assert answer.status is status and answer.serials == [] and answer.token == ""


def test_criteria_alone_choose_the_collection(tmp_path: Path) -> None:
    answer = _pool(tmp_path).request(ALLOCATED, "", 5, "", [("gtin", "04012345000023")], "")
    assert answer.status is ReturnStatus.NoError1
    assert answer.collection is not None and answer.collection.id == "TINY"


def test_ssccs_are_sequential_with_check_digits(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    ssccs = _all(pool, 3, "SSCC")
    assert ssccs[0][:17] == "34012345000000100"[:17]
    assert [int(s[8:17]) for s in ssccs] == [100, 101, 102]
    assert all(len(s) == 18 and has_valid_check_digit(s) for s in ssccs)
    urns = _all(pool, 2, "SSCC", "EPCURI")
    assert urns[0] == "urn:epc:id:sscc:4012345.3000000103"


def test_epc_uris_are_sgtins_of_the_collection_gtin(tmp_path: Path) -> None:
    urns = _all(_pool(tmp_path), 3, fmt="EPCURI")
    for urn in urns:
        identifier, cp_length = parse_urn(urn)
        assert identifier.key == GTIN_ITEMS and cp_length == 7


def test_returns_take_issued_serials_in_either_format(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    serials = _all(pool, 5)
    urns = [f"urn:epc:id:sgtin:4012345.000001.{s}" for s in serials[:2]]
    assert pool.give_back(ALLOCATED, "ITEMS", urns, "EPCURI", []).status is ReturnStatus.NoError1
    assert pool.give_back(ALLOCATED, "ITEMS", serials, "", []).status is ReturnStatus.NoError1
    assert sorted(pool.returned("ITEMS")) == sorted(serials)


@pytest.mark.parametrize(
    ("serial", "fmt", "state", "status"),
    [
        ("111111111111", "", ALLOCATED, ReturnStatus.InvalidSerialNumberCollection2),
        (
            "urn:epc:id:sgtin:4012345.000002.1",
            "EPCURI",
            ALLOCATED,
            ReturnStatus.InvalidSerialNumberCollection2,
        ),
        ("sgtin-ish", "EPCURI", ALLOCATED, ReturnStatus.InvalidSerialNumbersFormat4),
        (None, "", SerialState.Unallocated1, ReturnStatus.InvalidSerialNumberCollection2),
    ],
)
def test_a_return_that_does_not_match_is_refused_whole(
    tmp_path: Path, serial: str | None, fmt: str, state: SerialState, status: ReturnStatus
) -> None:
    pool = _pool(tmp_path)
    issued = _all(pool, 3)
    good = f"urn:epc:id:sgtin:4012345.000001.{issued[0]}" if fmt == "EPCURI" else issued[0]
    batch = [good, serial or issued[1]]
    assert pool.give_back(state, "ITEMS", batch, fmt, []).status is status
    assert pool.returned("ITEMS") == []  # nothing went back, not even the good one


def test_too_many_serials_in_one_return_are_refused(tmp_path: Path) -> None:
    pool = _pool(tmp_path, max_sn_returnable=2)
    with pytest.raises(TooManySerials):
        pool.give_back(ALLOCATED, "ITEMS", ["1", "2", "3"], "", [])


def test_a_collection_too_small_for_its_capacity_is_refused() -> None:
    with pytest.raises(CentralConfigError, match=r"serial_length: 6 numeric.*use at least 11"):
        CollectionSpec(id="X", kind="sgtin", gtin=GTIN_ITEMS, serial_length=6, capacity=1_000_000)


def test_configuration_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(CentralConfigError, match=r"gtin: '04012345000017'"):
        CollectionSpec(id="X", kind="sgtin", gtin="04012345000017")
    bad = tmp_path / "central.toml"
    bad.write_text("[epcis]\ncapture_limt = 5\n")
    with pytest.raises(CentralConfigError, match=r"epcis\.capture_limt: unknown key"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text(
        '[pool]\npath = "c.db"\nmax_sn_requestable = 10\n[faults]\nerror_rate = 0.5\n'
        '[[collections]]\nid = "A"\nkind = "sscc"\ncompany_prefix = "4012345"\n'
    )
    config = load_config(good, capture_limit=9)
    assert config.db_path == tmp_path / "c.db" and config.max_sn_requestable == 10
    assert config.capture_limit == 9 and config.faults.error_rate == 0.5
    assert config.collections[0].capacity == 10**9 - 1  # references 1..999999999
