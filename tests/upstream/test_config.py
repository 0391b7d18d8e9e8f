"""The proposed [upstream] configuration section: what it accepts, what it refuses."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from linectl.config import UpstreamSection
from linectl.upstream.pool_client import PoolManagerClient

EXAMPLE = """
[provisioning]
endpoint = "opc.tcp://site-server:4841/linectl/central"
market = "DE"
[provisioning.collections]
"04012345000016" = "ITEMS-04012345000016"

[sscc]
source = "range"
company_prefix = "4012345"
extension_digit = 3
first_reference = 1
last_reference = 99999

[epcis]
base_url = "https://epcis.example.com/epcis"
token_file = "/etc/linectl/epcis.token"
capture_limit = 200
"""


def test_the_documented_example_is_accepted() -> None:
    section = UpstreamSection.model_validate(tomllib.loads(EXAMPLE))
    assert section.provisioning is not None and section.epcis is not None
    assert section.provisioning.collections["04012345000016"] == "ITEMS-04012345000016"
    client = PoolManagerClient.from_section(section.provisioning)
    assert client.endpoint.startswith("opc.tcp://") and client.attempts == 5
    settings = section.epcis.settings()
    assert settings.capture_url == "https://epcis.example.com/epcis/capture"
    assert settings.capture_limit == 200 and settings.file_size_limit is None
    assert settings.token_file == Path("/etc/linectl/epcis.token")
    assert section.sscc.sscc_range().capacity == 99_999


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"provisioning": {"endpoint": "http://x"}}, "endpoint"),
        ({"provisioning": {"endpoint": "opc.tcp://x", "market": "Germany"}}, "market"),
        ({"epcis": {"base_url": "ftp://x"}}, "base_url"),
        ({"epcis": {"base_url": "https://x", "client_key": "k.pem"}}, "client_key needs"),
        ({"sscc": {"source": "range", "company_prefix": "4012345"}}, "first_reference"),
        (
            {
                "sscc": {
                    "source": "range",
                    "company_prefix": "4012345",
                    "first_reference": 1,
                    "last_reference": 10**9,
                }
            },
            "must fit in 9 digits",
        ),
        ({"epcis": {"base_url": "https://x", "tokn_file": "t"}}, "tokn_file"),
    ],
)
def test_mistakes_are_refused_naming_the_key(data: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        UpstreamSection.model_validate(data)
    assert where in str(refused.value)


def test_a_line_without_upstream_links_is_valid() -> None:
    section = UpstreamSection.model_validate({})
    assert section.provisioning is None and section.epcis is None
    assert section.sscc.source == "central"
