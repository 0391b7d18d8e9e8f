"""digital-link.js (npm): the independent GS1 Digital Link toolkit that checks the resolver's URIs.

Installed by the test set-up from the npm registry into ``var/npm`` (never committed); the check
runs it under node: each URI is parsed by ``DigitalLink(uri)`` and must pass ``isValid()`` (the
GS1 grammar and the key's check digit).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

VERSION = "1.4.3"
_SCRIPT = """
const { DigitalLink } = require('digital-link.js');
const uris = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(uris.map(u => { try { return DigitalLink(u).isValid(); }
  catch (e) { return false; } })));
"""


def install(root: Path) -> Path:
    """``npm install digital-link.js`` into ``root`` (once); the package directory."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install nodejs and npm (.ci/run installs them)")
    package = root / "node_modules" / "digital-link.js"
    if not (package / "package.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(root),
             f"digital-link.js@{VERSION}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return package


class DigitalLinkJs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def valid(self, uris: list[str]) -> list[bool]:
        """digital-link.js's verdict on each URI."""
        result = subprocess.run(
            ["node", "-e", _SCRIPT],
            input=json.dumps(uris),
            capture_output=True,
            text=True,
            check=True,
            cwd=self.root,
            timeout=60,
        )
        verdicts: list[bool] = json.loads(result.stdout)
        return verdicts
