"""The control API token file: created once with mode 0600, read back, bad files named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from linectl.config import ControlSection
from linectl.service.api import load_or_create_token
from linectl.service.tokens import TokenError, read_token, token_path
from tests.service.standin_line import captured_logs


def test_without_a_token_file_one_is_created_next_to_the_ledger_with_mode_0600(
    tmp_path: Path,
) -> None:
    default = tmp_path / "state" / "control.token"
    token = load_or_create_token(ControlSection(), default)
    assert default.read_text() == token + "\n"
    assert stat.S_IMODE(default.stat().st_mode) == 0o600
    assert len(token) >= 40
    assert not list(default.parent.glob(".*.tmp"))


def test_the_created_token_is_reused_on_the_next_start(tmp_path: Path) -> None:
    default = tmp_path / "control.token"
    first = load_or_create_token(ControlSection(), default)
    assert load_or_create_token(ControlSection(), default) == first


def test_two_lines_get_different_tokens(tmp_path: Path) -> None:
    a = load_or_create_token(ControlSection(), tmp_path / "a" / "control.token")
    b = load_or_create_token(ControlSection(), tmp_path / "b" / "control.token")
    assert a != b


def test_a_configured_token_file_is_read_and_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "provisioned.token"
    path.write_text("\n  s3cr3t-token-from-the-vault  \n")
    path.chmod(0o600)
    config = ControlSection(token_file=path)
    default = tmp_path / "control.token"
    assert load_or_create_token(config, default) == "s3cr3t-token-from-the-vault"
    assert not default.exists()
    assert token_path(config, default) == path


def test_a_configured_token_file_that_is_missing_is_an_error_not_a_new_secret(
    tmp_path: Path,
) -> None:
    path = tmp_path / "missing.token"
    with pytest.raises(TokenError, match=f"token file {path} does not exist"):
        load_or_create_token(ControlSection(token_file=path), tmp_path / "control.token")
    assert not path.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [("", "is empty"), ("   \n\n", "is empty"), ("short", "at least 16"), ("é" * 20, "ASCII")],
    ids=["empty", "blank", "short", "non-ascii"],
)
def test_an_unusable_token_file_is_named_with_the_problem(
    tmp_path: Path, content: str, words: str
) -> None:
    path = tmp_path / "bad.token"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TokenError, match=words) as caught:
        read_token(path)
    assert str(path) in str(caught.value)


def test_a_token_file_others_can_read_is_warned_about_without_the_token(tmp_path: Path) -> None:
    path = tmp_path / "open.token"
    path.write_text("readable-by-everyone-token\n")
    path.chmod(0o644)
    with captured_logs("INFO") as logs:
        load_or_create_token(ControlSection(token_file=path), tmp_path / "control.token")
    text = logs.getvalue()
    assert "readable by other users" in text
    assert "0o644" in text
    assert "readable-by-everyone-token" not in text
