"""An independent OPC UA stack, node-opcua (npm), against ``linectl opcua`` on the simulated
line: SignAndEncrypt with a user name, a subscription to the state number and
ProdProcessedCount that sees both change while a batch runs, Hold and Unhold by method call; a
role without the permission refused with BadUserAccessDenied; anonymous and None refused.

node-opcua is installed by this module's set-up into a scratch folder (npm's own cache makes it
quick: the set-up prefers it to the registry); the module is skipped, saying so, only where npm
or node is not installed (``.ci/run`` installs them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from linectl.line.control import Command
from standards.packml import PackMLState as S
from tests.opcua.opcua_line import opcua_line

pytestmark = pytest.mark.e2e

NODE_OPCUA = "node-opcua@2"
NODE_URI = "urn:linectl:tests:node-opcua"
SCRIPT = Path(__file__).with_name("node_client.js")
PACKS = 200


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node-opcua test: npm/node are not installed here (.ci/run installs them)")
    folder = tmp_path_factory.mktemp("node-opcua")
    # --prefer-offline: what npm's cache holds is used without asking the registry again for
    # each package's metadata (14 s -> 6 s here); a cold cache still downloads as usual
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline",
         "--prefix", str(folder), NODE_OPCUA],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"npm install {NODE_OPCUA} failed:\n{done.stderr}"
    return folder / "node_modules"


def node_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """node-opcua's client certificate and key (PEM), and the DER copy the server trusts."""
    from asyncua.crypto import cert_gen

    folder.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        "node-opcua test client",
        {},
        [x509.UniformResourceIdentifier(NODE_URI), x509.DNSName("localhost")],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    pem, key_pem, der = folder / "node.pem", folder / "node-key.pem", folder / "node.der"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(cert_gen.dump_private_key_as_pem(key))
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return pem, key_pem, der


async def test_node_opcua_subscribes_holds_unholds_and_is_refused_where_it_must_be(
    tmp_path: Path, node_modules: Path
) -> None:
    async with opcua_line(tmp_path, packs=PACKS, pool=PACKS + 50) as line:
        people = line.people
        password = await asyncio.to_thread(people.add, "op.olga", "operator", "Olga Op")
        qa = await asyncio.to_thread(people.add, "qa.vera", "qa", "Vera QA")
        pem, key, der = await asyncio.to_thread(node_certificate, tmp_path / "node")
        await asyncio.to_thread(shutil.copy, der, line.pki / "trusted" / der.name)
        cfg = {
            "url": line.url, "line": "e2e-line", "applicationUri": NODE_URI,
            "certFile": str(pem), "keyFile": str(key), "pki": str(tmp_path / "node-pki"),
            "user": "op.olga", "password": password, "qaUser": "qa.vera", "qaPassword": qa,
        }  # fmt: skip
        env = os.environ | {"NODE_PATH": str(node_modules)}
        proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), json.dumps(cfg), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        results: dict[str, Any] = {}
        chatter: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        try:
            async with asyncio.timeout(150):
                async for raw in proc.stdout:
                    text = raw.decode(errors="replace")
                    if not text.startswith("RESULT "):
                        chatter.append(text)
                        continue
                    doc = json.loads(text.removeprefix("RESULT "))
                    assert "error" not in doc, doc["error"]
                    results |= doc
                    if doc.get("ready"):  # subscribed: run the batch
                        await line.rig.rt.command(Command.START, user="sv.sam", reason="test")
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        err = (await proc.stderr.read()).decode(errors="replace")
        assert proc.returncode == 0, "".join(chatter)[-3000:] + err[-3000:]
    assert results["securityMode"] == "SignAndEncrypt"
    states = results["states"]
    assert S.EXECUTE in states and states.index(S.EXECUTE) < states.index(S.HELD), states
    assert states[-1] == S.EXECUTE and states.count(S.EXECUTE) >= 2, states
    counts = [c for c in results["processed"] if c is not None]
    assert len(set(counts)) >= 2 and max(counts) > 0, results["processed"]
    assert (results["hold"], results["unhold"]) == ("Good", "Good")
    assert results["qaHold"] == "BadUserAccessDenied"
    print(results)
    # the endpoints offer no anonymous token and no None policy: node-opcua cannot even try
    assert "Cannot find ANONYMOUS user token policy" in results["anonymous"], results["anonymous"]
    assert results["none"] != "accepted", results["none"]
