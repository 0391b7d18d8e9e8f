"""The OPC UA PLC driver on a secured PLC simulator: Basic256Sha256 SignAndEncrypt with a client
certificate and a user login works; an untrusted certificate, a wrong password and an unsecured
connection are refused, each with an error that names what to fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.interfaces import DeviceError, DeviceUnavailable
from drivers.plc import signals as sig
from drivers.plc.opcua import OpcUaPlc
from drivers.registry import DeviceParams, open_device
from linectl.config import ConfigError, parse_config
from linectl.config.daemon_files import check_daemon_files
from linectl.line.devices import DeviceSetupError, open_devices
from simulators.line import LineLayout, VirtualLine
from simulators.plc import PlcSimulator
from tests.ua_certs import SecureSite, secure_site


@pytest.fixture
def site(tmp_path: Path) -> SecureSite:
    return secure_site(tmp_path, "plc")


@pytest.fixture
async def sim(site: SecureSite) -> AsyncIterator[PlcSimulator]:
    plc = PlcSimulator(VirtualLine(LineLayout()), opcua_port=0, opcua_security=site.endpoint)
    await plc.start()
    yield plc
    await plc.close()


def _driver(sim: PlcSimulator, site: SecureSite, security: str | None, **kw: str) -> OpcUaPlc:
    options: dict[str, str] = {"username": site.user, "password_file": str(site.password_file)}
    if security is not None:
        options["security"] = security
    params = DeviceParams(
        "plc", "plc", "opcua", url=sim.opcua_url, timeout_s=5.0, options=options | kw
    )
    driver = open_device(params)  # the configuration's options reach the driver as they are
    assert isinstance(driver, OpcUaPlc)
    return driver


async def test_the_driver_reads_and_writes_over_sign_and_encrypt_as_a_user(
    sim: PlcSimulator, site: SecureSite
) -> None:
    plc = _driver(sim, site, site.line.security())
    try:
        await plc.connect()
        assert await plc.read([sig.MAP_VERSION_SIGNAL]) == [sig.MAP_VERSION]
        await plc.write_heartbeat(7)
        await sim.wait_for(lambda: sim.memory.get(sig.HOST_HEARTBEAT) == 7)
    finally:
        await plc.close()


async def test_an_untrusted_client_certificate_is_refused_naming_it(
    sim: PlcSimulator, site: SecureSite, tmp_path: Path
) -> None:
    plc = _driver(sim, site, site.stranger.security())
    try:
        with pytest.raises(DeviceError) as caught:
            await plc.connect()
    finally:
        await plc.close()
    message = str(caught.value)
    assert not isinstance(caught.value, DeviceUnavailable)  # no retry storm: a config matter
    assert "refused the client certificate" in message
    assert str(site.stranger.cert) in message and site.stranger.thumbprint in message
    assert "CN=stranger" in message
    assert (tmp_path / "rejected" / f"{site.stranger.thumbprint}.der").is_file()


async def test_a_wrong_password_is_refused_naming_the_user(
    sim: PlcSimulator, site: SecureSite, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n", encoding="utf-8")
    plc = _driver(sim, site, site.line.security(), password_file=str(wrong))
    try:
        with pytest.raises(DeviceError, match="refused user 'line-1'"):
            await plc.connect()
    finally:
        await plc.close()


async def test_an_unsecured_connection_is_refused_when_none_is_off(
    sim: PlcSimulator, site: SecureSite
) -> None:
    plc = _driver(sim, site, None)
    try:
        with pytest.raises(DeviceError, match="security policy None"):
            await plc.connect()
    finally:
        await plc.close()


def test_a_security_option_of_the_wrong_type_is_named_in_the_configuration(
    tmp_path: Path,
) -> None:
    config = parse_config({
        "line": {"id": "l", "read_point": "urn:epc:id:sgln:0950600.01343.1",
                 "biz_location": "urn:epc:id:sgln:0950600.01343.0", "company_prefix_length": 7},
        "ledger": {"path": str(tmp_path / "ledger.db")},
        "devices": {
            "plc": {"kind": "plc", "protocol": "opcua", "host": "127.0.0.1", "port": 4840,
                    "options": {"security": 256, "username": "line-1"}},
            "printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1", "port": 1},
            "camera": {"kind": "camera", "protocol": "framepush", "host": "127.0.0.1", "port": 1},
        },
    })  # fmt: skip
    with pytest.raises(DeviceSetupError, match=r"devices\.plc\.options\.security: expected text"):
        open_devices(config)


def test_linectl_run_names_a_missing_plc_certificate_or_password_file_before_connecting(
    tmp_path: Path, site: SecureSite
) -> None:
    missing = tmp_path / "nowhere" / "line.der"
    config = parse_config({
        "line": {"id": "l", "read_point": "urn:epc:id:sgln:0950600.01343.1",
                 "biz_location": "urn:epc:id:sgln:0950600.01343.0", "company_prefix_length": 7},
        "ledger": {"path": str(tmp_path / "ledger.db")},
        "devices": {
            "plc": {"kind": "plc", "protocol": "opcua", "host": "127.0.0.1", "port": 4840,
                    "options": {"security": f"Basic256Sha256,SignAndEncrypt,{missing},"
                                            f"{site.line.key}",
                                "password_file": str(tmp_path / "no.password")}},
            "printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1", "port": 1},
            "camera": {"kind": "camera", "protocol": "framepush", "host": "127.0.0.1", "port": 1},
        },
    })  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        check_daemon_files(config, "line.toml")
    message = str(caught.value)
    assert f"devices.plc.options.security (certificate): {missing}" in message
    assert "devices.plc.options.password_file" in message and "private_key" not in message
