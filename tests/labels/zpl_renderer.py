"""zpl-renderer-js (npm): an independent ZPL II renderer (a WebAssembly build of Zebrash) that
draws what a Zebra printer would print, run headless under node.

Installed by the test set-up from the npm registry into ``var/npm`` (never committed). One node
process renders a whole list of formats (loading the 9 MB module once), each on a canvas of
``width`` x ``height`` dots at ``dpmm`` dots per mm; images come back as grey numpy arrays
(0 ink, 255 paper).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

PACKAGE = "zpl-renderer-js"
VERSION = "3.4.0"
_SCRIPT = """
const { ready } = require('zpl-renderer-js');
const jobs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const { api } = await ready;
  const out = [];
  for (const j of jobs) {
    out.push(await api.zplToBase64Async(j.zpl, j.width_mm, j.height_mm, j.dpmm));
  }
  process.stdout.write(JSON.stringify(out));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def install(root: Path) -> Path:
    """``npm install zpl-renderer-js`` into ``root`` (once); the package directory."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install nodejs and npm (.ci/run installs them)")
    package = root / "node_modules" / PACKAGE
    manifest = package / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text())["version"] != VERSION:
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix",
             str(root), f"{PACKAGE}@{VERSION}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return package


@dataclass(frozen=True)
class RenderJob:
    """One format to draw on a canvas of ``width`` x ``height`` dots."""

    zpl: str
    width: int
    height: int
    dpmm: int


class ZplRenderer:
    def __init__(self, root: Path) -> None:
        self.root = root

    def render(self, jobs: list[RenderJob]) -> list[npt.NDArray[np.uint8]]:
        """Each job drawn by zpl-renderer-js, as a grey image of its canvas."""
        payload = [
            {"zpl": j.zpl, "width_mm": j.width / j.dpmm, "height_mm": j.height / j.dpmm,
             "dpmm": j.dpmm}
            for j in jobs
        ]  # fmt: skip
        done = subprocess.run(
            ["node", "-e", _SCRIPT],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=300,
        )
        assert done.returncode == 0, f"zpl-renderer-js failed: {done.stderr[-2000:]}"
        images = []
        for job, png in zip(jobs, json.loads(done.stdout), strict=True):
            raw = np.frombuffer(base64.b64decode(png), np.uint8)
            image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
            assert image is not None and image.shape == (job.height, job.width), (
                f"zpl-renderer-js drew {None if image is None else image.shape}, "
                f"expected {(job.height, job.width)}"
            )
            images.append(image.astype(np.uint8))
        return images
