"""The provisioning link on SignAndEncrypt: the pool-manager client requests serials from a central
simulator that offers only Basic256Sha256 endpoints and user logins; a client certificate it does
not trust, or a wrong password, is refused with an error naming the certificate or the user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from drivers.reconnect import Backoff
from linectl.upstream.pool_client import PoolManagerClient, Selection
from linectl.upstream.pool_errors import PoolLoginRefused
from simulators.central import CentralSimulator
from tests.simulators.central.harness import GTIN_ITEMS, central_config
from tests.ua_certs import SecureSite, secure_site

# The three tests share one site and one central simulator (the certificates and the server
# are the slow part); none depends on what another asked of the pool manager.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secure-central")


@pytest.fixture(scope="module")
def site(folder: Path) -> SecureSite:
    return secure_site(folder / "pki", "central")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def central(
    folder: Path, standards: Path, site: SecureSite
) -> AsyncIterator[CentralSimulator]:
    config = central_config(folder, standards)
    async with CentralSimulator(config, admin=False, opcua_security=site.endpoint) as sim:
        yield sim


def _client(central: CentralSimulator, security: str, password: str) -> PoolManagerClient:
    return PoolManagerClient(
        central.opcua_url,
        security=security,
        username="line-1",
        password=password,
        timeout_s=10.0,
        attempts=1,
        backoff=Backoff(initial=0.01, maximum=0.05),
    )


async def test_serials_are_requested_over_sign_and_encrypt_as_a_user(
    central: CentralSimulator, site: SecureSite
) -> None:
    client = _client(central, site.line.security(), site.password)
    try:
        async with asyncio.timeout(30):
            result = await client.request(10, Selection(gtin=GTIN_ITEMS, lot="L1", market="DE"))
    finally:
        await client.close()
    assert len(result.serials) == 10 == len(set(result.serials))


async def test_an_untrusted_client_certificate_is_refused_naming_it(
    central: CentralSimulator, site: SecureSite, folder: Path
) -> None:
    client = _client(central, site.stranger.security(), site.password)
    try:
        with pytest.raises(PoolLoginRefused) as caught:
            await client.connect()
    finally:
        await client.close()
    message = str(caught.value)
    assert "refused the client certificate" in message and "CN=stranger" in message
    assert str(site.stranger.cert) in message and site.stranger.thumbprint in message
    assert (folder / "pki" / "rejected" / f"{site.stranger.thumbprint}.der").is_file()


async def test_a_wrong_password_is_refused_naming_the_user(
    central: CentralSimulator, site: SecureSite
) -> None:
    client = _client(central, site.line.security(), "wrong-password")
    try:
        with pytest.raises(PoolLoginRefused, match="refused user 'line-1'"):
            await client.connect()
    finally:
        await client.close()
