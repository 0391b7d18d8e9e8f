"""Log format selection: JSON lines off a terminal, console lines on one, stdlib included."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from linectl.logs import LEVEL_ENV, configure_logging, resolve_level

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(LEVEL_ENV, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def emit_both() -> None:
    structlog.get_logger("linectl.runtime.test").info("verdict written", seq=41, verdict="GOOD")
    logging.getLogger("drivers.zpl.client").warning("printer %s lost", "zpl-1")


def test_off_a_terminal_structlog_and_stdlib_records_are_json_lines() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    emit_both()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "verdict written"
    assert (first["seq"], first["verdict"], first["level"]) == (41, "GOOD", "info")
    assert first["logger"] == "linectl.runtime.test"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "printer zpl-1 lost"
    assert (second["level"], second["logger"]) == ("warning", "drivers.zpl.client")


def test_on_a_terminal_lines_are_for_people() -> None:
    out = Terminal()
    configure_logging("INFO", stream=out)
    emit_both()
    coloured = out.getvalue().splitlines()
    assert all("\x1b[" in line for line in coloured)
    lines = [ANSI.sub("", line) for line in coloured]
    assert len(lines) == 2
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
    assert "verdict written" in lines[0] and "seq=41" in lines[0]
    assert "printer zpl-1 lost" in lines[1] and "drivers.zpl.client" in lines[1]


def test_no_color_turns_colours_off_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    configure_logging("INFO", stream=out)
    emit_both()
    assert "verdict written" in out.getvalue()
    assert "\x1b[" not in out.getvalue()


def test_json_can_be_forced_on_a_terminal_and_console_off_one() -> None:
    tty = Terminal()
    configure_logging("INFO", json=True, stream=tty)
    emit_both()
    assert json.loads(tty.getvalue().splitlines()[0])["event"] == "verdict written"
    plain = io.StringIO()
    configure_logging("INFO", json=False, stream=plain)
    emit_both()
    assert plain.getvalue().splitlines()[0].split()[1:3] == ["[info", "]"]


def test_the_level_filters_both_kinds_of_record() -> None:
    out = io.StringIO()
    configure_logging("WARNING", stream=out)
    emit_both()
    structlog.get_logger("x").debug("noise")
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["printer zpl-1 lost"]


def test_linectl_log_level_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEVEL_ENV, "debug")
    out = io.StringIO()
    configure_logging("WARNING", stream=out)
    structlog.get_logger("x").debug("pool level", unused=812)
    assert json.loads(out.getvalue())["event"] == "pool level"


@pytest.mark.parametrize(
    ("env", "arg", "words"),
    [("LOUD", "INFO", f"${LEVEL_ENV} is 'LOUD'"), ("", "verbose", "log level is 'verbose'")],
)
def test_an_unknown_level_names_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, env: str, arg: str, words: str
) -> None:
    monkeypatch.setenv(LEVEL_ENV, env)
    with pytest.raises(ValueError, match="expected one of: DEBUG, INFO") as caught:
        resolve_level(arg)
    assert words in str(caught.value)


def test_exceptions_are_rendered_without_local_variables() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    secret = "s3cret-in-a-local-variable"
    try:
        raise RuntimeError("device said no")
    except RuntimeError:
        structlog.get_logger("x").exception("command failed")
    record = json.loads(out.getvalue())
    assert "RuntimeError: device said no" in record["exception"]
    assert secret not in out.getvalue()


def test_configuring_again_replaces_only_its_own_handler() -> None:
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    configure_logging("INFO", stream=second)
    emit_both()
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 2
    assert foreign in logging.getLogger().handlers
    logging.getLogger().removeHandler(foreign)


def test_chatty_libraries_are_held_at_warning_unless_debugging() -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    logging.getLogger("asyncua.client.ua_client").info("publish callback")
    logging.getLogger("pymodbus.logging").info("frame sent")
    assert out.getvalue() == ""
    configure_logging("DEBUG", stream=out)
    logging.getLogger("pymodbus.logging").debug("frame sent")
    assert json.loads(out.getvalue())["event"] == "frame sent"
