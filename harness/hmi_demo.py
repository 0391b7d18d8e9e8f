"""The HMI in ``make demo``: a machine account for it, a person to log in as, and the process.

The demo's admin adds the HMI's machine account (its API token in a 0600 file) and a supervisor
``viewer`` whose password is made for this run only and printed once, with the URL, so a
newcomer can watch the demo line in a browser while it runs. Passwords go to the CLI on
standard input, never in argv or the environment.
"""

from __future__ import annotations

import secrets
import sys
import tomllib
from dataclasses import dataclass
from typing import TextIO

from harness.identity import ADMIN, run_cli
from harness.processes import Child, DemoError, DemoFiles, free_port, toml_text

VIEWER = "viewer"


@dataclass
class DemoHmi:
    child: Child
    url: str
    secrets: tuple[str, ...]  # the viewer's passwords and the HMI's token (never in clear)

    def stop(self) -> int:
        return self.child.stop()


def start_demo_hmi(files: DemoFiles, admin_password: str, out: TextIO) -> DemoHmi:
    """Accounts, the ``[hmi]`` table in the demo's configuration, and ``linectl hmi``."""
    state = files.root / "hmi"
    state.mkdir(parents=True, exist_ok=True)
    token_file = files.root / "hmi.token"
    first, password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    base = ["--config", str(files.config)]
    add = ["user", "add"]
    steps: list[tuple[list[str], str]] = [
        (["login", ADMIN], f"{admin_password}\n"),
        ([*add, "hmi", "--role", "machine", "--full-name", "Line HMI"], f"{admin_password}\n"),
        (["user", "token", "create", "hmi", "--label", "demo HMI", "--out", str(token_file)], ""),
        ([*add, VIEWER, "--role", "supervisor", "--full-name", "Demo Viewer"],
         f"{first}\n{first}\n{admin_password}\n"),
        (["passwd", VIEWER], f"{first}\n{password}\n{password}\n"),
        (["logout"], ""),
    ]  # fmt: skip
    for step, stdin in steps:
        code = run_cli([*base, "--password-stdin", *step] if stdin else base + step, stdin)
        if code != 0:
            raise DemoError(f"linectl {' '.join(step)} failed with exit code {code}")
    config = tomllib.loads(files.config.read_text(encoding="utf-8"))
    config["hmi"] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "state_dir": str(state),
        "token_file": str(token_file),
    }
    files.config.write_text(toml_text(config), encoding="utf-8")
    argv = [sys.executable, "-m", "linectl.cli", "hmi", "--config", str(files.config)]
    child = Child("hmi", argv, files.root / "hmi.log")
    ready = child.wait_line("linectl hmi ready:", timeout=60.0)
    url = ready.split("url=", 1)[1].split()[0]
    print(f"HMI: open {url} and log in as {VIEWER} with the one-time password {password}", file=out)
    print("     (self-signed certificate: let the browser accept it once)", file=out)
    used = (first, password, token_file.read_text(encoding="utf-8").strip())
    return DemoHmi(child, url, used)
