"""The demo's people and machines, set up with no human at the keyboard.

``linectl ledger init`` creates the first admin from a one-time secret it writes to a 0600
file; the harness logs that admin in (choosing a fresh random password, since the secret is
expired at once), adds a machine account for the demo's "MES" with an API token in a 0600 file,
and logs out. The admin's password is left in ``demo-admin.password`` (0600) for whoever tries
the demo by hand. Everything after that (batch, serials, the control API) runs as the machine
account. Passwords reach the CLI on standard input (``--password-stdin``), never argv or env.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.processes import DemoError
from linectl.identity.keyfiles import write_secret_file

ADMIN = "demo-admin"


def run_cli(argv: Sequence[str], stdin: str = "", out: TextIO | None = None) -> int:
    """``linectl argv`` in this process, with ``stdin`` as standard input."""
    from linectl.cli import main as cli_main

    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out or io.StringIO()):
            return cli_main(list(argv))
    finally:
        sys.stdin = saved


@dataclass(frozen=True)
class DemoIdentity:
    """The machine account's API token file, and every secret the set-up used (so a test can
    check that none of them reached a log or the ledger in clear)."""

    token_file: Path
    secrets: tuple[str, ...]


def set_up_identity(
    config: Path, root: Path, machine: str, out: TextIO | None = None
) -> DemoIdentity:
    """Ledger, first admin and a machine account ``machine`` with an API token."""
    secret_file = root / "admin.secret"
    token_file = root / f"{machine}.token"
    password = secrets.token_urlsafe(18)
    base = ["--config", str(config)]
    steps: list[tuple[list[str], str]] = [
        (["ledger", "init", "--admin", ADMIN, "--one-time-secret", str(secret_file)], ""),
        (["--password-stdin", "login", ADMIN], "{secret}\n" + f"{password}\n{password}\n"),
        (
            [
                "--password-stdin",
                "user",
                "add",
                machine,
                "--role",
                "machine",
                "--full-name",
                f"{machine} (machine account)",
            ],
            f"{password}\n",
        ),
        (["user", "token", "create", machine, "--label", "demo", "--out", str(token_file)], ""),
        (["logout"], ""),
    ]
    used = [password]
    for step, stdin in steps:
        shown = [s for s in step if s != "--password-stdin"]
        if out is not None:
            print(f"$ linectl {' '.join(shown)}", file=out)
        if "{secret}" in stdin:
            secret = secret_file.read_text(encoding="utf-8").strip()
            used.append(secret)
            stdin = stdin.replace("{secret}", secret)
        code = run_cli(base + step, stdin, out)
        if code != 0:
            raise DemoError(f"linectl {' '.join(shown)} failed with exit code {code}")
    secret_file.unlink()
    # the admin's password, for a person trying the demo (README tour): 0600, like the token
    write_secret_file(root / f"{ADMIN}.password", password + "\n")
    used.append(token_file.read_text(encoding="utf-8").strip())
    return DemoIdentity(token_file, tuple(used))
