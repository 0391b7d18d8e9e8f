"""A real OpenLDAP server for tests: slapd on a free local port, its own config and database in
a temp directory, filled with slapadd, stopped after. Runs as root (CI) or any user.

``.ci/run`` installs the Debian package ``slapd`` when it is missing; without it the tests fail
and say so, they are not skipped.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = "dc=example,dc=com"
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
pidfile {root}/slapd.pid
modulepath {modules}
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
directory {root}/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
"""


@dataclass
class Directory:
    """What the server holds: users (uid -> (display name, password)) and groups (cn -> uids)."""

    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    url: str = ""

    def dn(self, uid: str) -> str:
        return f"uid={uid},ou=people,{SUFFIX}"

    def ldif(self) -> str:
        entries = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\n"
            "dc: example\n",
            f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
            f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n",
        ]
        for uid, (name, password) in self.users.items():
            entries.append(
                f"dn: {self.dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
                f"sn: {name.split()[-1]}\ndisplayName: {name}\nuserPassword: {password}\n"
            )
        for cn, members in self.groups.items():
            lines = "".join(f"member: {self.dn(uid)}\n" for uid in members)
            entries.append(
                f"dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n" + lines
            )
        return "\n".join(entries)


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError(
            f"{name} is not installed: the LDAP tests need OpenLDAP's slapd (Debian package "
            "'slapd'); .ci/run installs it, or: apt-get install slapd"
        )
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_slapd(root: Path, directory: Directory) -> Iterator[Directory]:
    """Fill a database with ``directory`` and serve it until the block ends."""
    slapd, slapadd = _binary("slapd"), _binary("slapadd")
    (root / "db").mkdir(parents=True)
    conf = root / "slapd.conf"
    conf.write_text(CONFIG.format(schema=SCHEMA, modules=MODULES, root=root, suffix=SUFFIX))
    (root / "data.ldif").write_text(directory.ldif())
    subprocess.run(
        [slapadd, "-f", str(conf), "-l", str(root / "data.ldif")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [slapd, "-f", str(conf), "-h", f"{url}/", "-d", "none"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:  # slapd logs "slapd starting" once it listens
            seen.append(line)
            if "slapd starting" in line:
                break
        else:
            raise RuntimeError("slapd did not start:\n" + "".join(seen[-20:]))
        directory.url = url
        yield directory
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
