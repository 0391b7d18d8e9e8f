"""Fault suite, malformed input: every bad file gets a short error naming the file, the line or
field, and what to do; never a traceback, a MemoryError or the bad input echoed in full."""

from __future__ import annotations

from pathlib import Path

import pytest

from linectl.config import ConfigError, load_config
from linectl.ledger.opening import create_ledger
from tests.faults.processes import GTIN, contacted, line_config, linectl, silent_devices, snapshot
from tests.people import People

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "config" / "demo-line.toml").read_text(encoding="utf-8")


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "line.db"
    with create_ledger(path) as new:
        new.create_work_order(
            batch="B1", gtin=GTIN, lot="L1", expiry="281130", quantity=1000,
            target_market="DE", actor="qa.anna",
        )  # fmt: skip
    People(path).log_in("qa.anna", "supervisor")  # the CLI runs as her (tests/people.py)
    return path


def import_file(ledger: Path, file: Path | str) -> tuple[int, str, str]:
    done = linectl("--ledger", str(ledger), "serials", "import", str(file), "--batch", "B1")
    return done.returncode, done.stdout, done.stderr


# --- serial files --------------------------------------------------------------------------------


def test_a_ten_megabyte_import_line_is_named_by_its_line_number_not_echoed(
    ledger: Path, tmp_path: Path
) -> None:
    file = tmp_path / "serials.txt"
    file.write_text("S000001\n" + "A" * 10_000_000 + "\nS000003\n")

    code, _, err = import_file(ledger, file)

    assert code == 2
    assert f"serial file {file}: line 2 is longer than 256 bytes" in err
    assert len(err) < 400 and "Traceback" not in err


def test_a_long_serial_is_shown_clipped_with_its_length(ledger: Path, tmp_path: Path) -> None:
    file = tmp_path / "serials.txt"
    file.write_text("S000001\n" + "B" * 200 + "\n")

    code, _, err = import_file(ledger, file)

    assert code == 2
    assert "serial at index 1 (line 2)" in err and "(200 characters)" in err
    assert "B" * 70 not in err


def test_importing_dev_zero_is_a_bounded_read_with_a_clear_error(ledger: Path) -> None:
    code, _, err = import_file(ledger, "/dev/zero")

    assert code == 2
    assert "serial file /dev/zero: line 1 is longer than 256 bytes" in err
    assert "MemoryError" not in err and len(err) < 400


def test_a_utf8_bom_and_windows_line_ends_in_an_import_file_are_accepted(
    ledger: Path, tmp_path: Path
) -> None:
    file = tmp_path / "serials.txt"
    file.write_bytes(b"\xef\xbb\xbfS000001\r\nS000002\r\n")

    code, out, err = import_file(ledger, file)

    assert code == 0, err
    assert "imported 2 serials" in out
    listed = linectl("--ledger", str(ledger), "trace", "S000001").stdout
    assert "serial S000001" in listed


def test_a_utf16_import_file_is_refused_naming_the_line(ledger: Path, tmp_path: Path) -> None:
    file = tmp_path / "serials.txt"
    file.write_text("S000001\nS000002\n", encoding="utf-16")
    before = snapshot(tmp_path)

    code, _, err = import_file(ledger, file)

    assert code == 2
    assert f"serial file {file}: line 1 holds NUL bytes (UTF-16 or binary?)" in err
    assert snapshot(tmp_path) == before


# --- configuration files -------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "line.toml"
    path.write_bytes(data)
    return path


def test_a_configuration_with_a_utf8_bom_loads(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + DEMO.encode())

    assert load_config(path).line.id == load_config(REPO / "config" / "demo-line.toml").line.id


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_configuration_is_refused_naming_the_file(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, DEMO.encode(encoding))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert str(caught.value).startswith(f"{path}: 1 configuration error")
    assert "UTF-16" in str(caught.value) and "save it as UTF-8" in str(caught.value)


def test_latin1_text_in_a_configuration_names_the_line(tmp_path: Path) -> None:
    text = DEMO.replace('name = "', 'name = "Linie M\xfcnchen ', 1)
    path = write(tmp_path, text.encode("latin-1"))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    line = DEMO.splitlines().index(next(x for x in DEMO.splitlines() if 'name = "' in x)) + 1
    assert f"line {line}: byte 0xfc is not UTF-8" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 5000 + "]" * 5000,
        "x = " + "{a = " * 3000 + "1" + "}" * 3000,
        "[" + ".".join(["t"] * 200) + "]\nb = 1",
        "x = " + "[" * 40 + "]" * 40,
    ],
    ids=["arrays-5000", "inline-tables-3000", "table-header-200", "arrays-40"],
)
def test_a_deeply_nested_configuration_is_refused_naming_the_file(
    tmp_path: Path, text: str
) -> None:
    path = write(tmp_path, text.encode())

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: 1 configuration error")
    assert "nested" in message and len(message) < 300


def test_a_configuration_path_that_is_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a configuration file"):
        load_config(tmp_path)


# --- linectl run: configuration errors found at load, exit 2, before any device -------------------

LATE = {
    "password file missing": (
        '[upstream.provisioning]\nendpoint = "opc.tcp://127.0.0.1:1/x"\nusername = "line"\n'
        'password_file = "{tmp}/missing.password"\n',
        "upstream.provisioning.password_file: {tmp}/missing.password: No such file or directory",
    ),
    "security string malformed": (
        '[upstream.provisioning]\nendpoint = "opc.tcp://127.0.0.1:1/x"\n'
        'security = "Basic256Sha256,SignAndEncrypt,{tmp}/cert.der"\n',
        "upstream.provisioning.security: Value error, has 3 comma-separated parts",
    ),
    "security policy unknown": (
        '[upstream.provisioning]\nendpoint = "opc.tcp://127.0.0.1:1/x"\n'
        'security = "Basic999,SignAndEncrypt,{tmp}/cert.der,{tmp}/key.pem"\n',
        "policy 'Basic999' is not one of Basic256Sha256",
    ),
    "security certificate missing": (
        '[upstream.provisioning]\nendpoint = "opc.tcp://127.0.0.1:1/x"\n'
        'security = "Basic256Sha256,SignAndEncrypt,{tmp}/cert.der,{tmp}/key.pem"\n',
        "upstream.provisioning.security (certificate): {tmp}/cert.der: No such file",
    ),
    "socket path too long": (
        '[control]\nunix_socket = "{tmp}/' + "s" * 120 + '.sock"\n',
        "control.unix_socket: {tmp}/sss",
    ),
    "socket path is a regular file": (
        '[control]\nunix_socket = "{tmp}/line.toml"\n',
        "control.unix_socket: {tmp}/line.toml exists and is not a socket",
    ),
}


@pytest.mark.parametrize("case", sorted(LATE))
def test_run_reports_configuration_errors_before_trying_any_device(
    tmp_path: Path, ledger: Path, case: str
) -> None:
    extra, said = (text.format(tmp=tmp_path) for text in LATE[case])
    with silent_devices() as socks:
        config = line_config(tmp_path, ledger, [s.getsockname()[1] for s in socks], extra)

        result = linectl("run", "--config", str(config))

        assert result.returncode == 2, result.stderr
        assert said in result.stderr
        assert str(config) in result.stderr and "Traceback" not in result.stderr
        assert not any(contacted(s) for s in socks)


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("dpi = 300", "devices.zebra.options.dpi: the zpl printer driver has no such option"),
        ('connect_timeout = "fast"', "devices.zebra.options.connect_timeout: expected a number"),
        ('name = "other"', "devices.zebra.options.name: set by linectl from the device section"),
    ],
)
def test_a_device_option_error_names_the_configuration_field(
    tmp_path: Path, ledger: Path, option: str, said: str
) -> None:
    with silent_devices() as socks:
        config = line_config(tmp_path, ledger, [s.getsockname()[1] for s in socks])
        config.write_text(config.read_text() + f"\n[devices.zebra.options]\n{option}\n")

        result = linectl("run", "--config", str(config))

        assert result.returncode == 2, result.stderr
        assert said in result.stderr
        assert "__init__" not in result.stderr and "keyword argument" not in result.stderr
        assert not any(contacted(s) for s in socks)
