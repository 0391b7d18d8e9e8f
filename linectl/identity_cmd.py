"""The CLI's identity: login, logout, passwd, user administration, batch release, audit show,
and how every ledger command finds who is calling (session file or API token file).

Passwords are read with getpass, never from an argument or the environment; ``--password-stdin``
reads them from standard input instead, one line per prompt, for machines and tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linectl.config import ConfigError, IdentitySection, LineConfig, load_config
from linectl.identity import (
    Identity,
    IdentityError,
    PasswordExpired,
    Principal,
    Signatures,
    prompts,
)
from linectl.identity.keyfiles import (
    audit_key_path,
    create_audit_key,
    find_credential,
    load_audit_key,
    read_secret_file,
    session_path,
    write_secret_file,
)
from linectl.identity.matrix import SIGNED_ACTIONS, cli_permission
from linectl.identity.setup import directory_for
from linectl.ledger import Ledger, SerialState
from linectl.ledger.audit_keys import AuditKeyError
from linectl.ledger.identity_rows import find_audit
from linectl.lifecycle import release_events

AddCommand = Callable[..., argparse.ArgumentParser]
OpenLedger = Callable[..., Ledger]


class NotLoggedIn(IdentityError):
    reason = "not-logged-in"


# --- configuration, credentials ------------------------------------------------------------------


def config_of(args: argparse.Namespace) -> LineConfig | None:
    name = args.config or os.environ.get("LINECTL_CONFIG")
    return load_config(name) if name else None


def policy_of(args: argparse.Namespace) -> IdentitySection:
    config = config_of(args)
    return config.identity if config is not None else IdentitySection()


def identity_of(args: argparse.Namespace, ledger: Ledger) -> Identity:
    policy = policy_of(args)
    return Identity(ledger, policy, directory_for(policy))


def attach_key(args: argparse.Namespace, ledger: Ledger, *, create: bool = False) -> Path:
    """Give the ledger its audit key (``create``: make the key file and key the trail)."""
    path = audit_key_path(policy_of(args), Path(ledger.path))
    key = load_audit_key(path)
    if key is None and create:
        key = create_audit_key(path)
    if key is not None:
        ledger.identity.attach_audit_key(key, create=create)
    elif not create and (args.command, getattr(args, "sub", None)) != ("audit", "verify"):
        fingerprint = ledger.identity.keyed()
        if fingerprint:  # refuse before anything is asked or done, not at the first write
            raise AuditKeyError(
                f"the ledger's audit trail is keyed (key {fingerprint}) but its key file {path} "
                "is missing or unreadable: restore it or set [identity] audit_key_file"
            )
    return path


def audit_key(args: argparse.Namespace, ledger: Ledger) -> bytes | None:
    return load_audit_key(audit_key_path(policy_of(args), Path(ledger.path)))


def credential(args: argparse.Namespace, ledger_path: Path) -> str:
    """The caller's bearer secret: --token-file / $LINECTL_TOKEN_FILE, else the session file."""
    return find_credential(args.token_file, policy_of(args), ledger_path)


def caller(args: argparse.Namespace, ledger: Ledger) -> Principal:
    """Who runs this ledger command, with the permission the matrix asks for it checked."""
    identity = identity_of(args, ledger)
    principal = identity.resolve(credential(args, Path(ledger.path)))
    permission = cli_permission(args.command, getattr(args, "sub", None))
    if permission is not None:
        what = f"{args.command} {getattr(args, 'sub', '') or ''}".strip()
        identity.require(principal, permission, what)
    args.user = principal.name  # what the ledger records as the actor
    args.principal = principal
    return principal


def read_password(args: argparse.Namespace, prompt: str) -> str:
    """A password: from the terminal (getpass), or one line of stdin with --password-stdin."""
    return prompts.read_password(getattr(args, "password_stdin", False), prompt)


def new_password(args: argparse.Namespace, whose: str) -> str:
    first = read_password(args, f"new password for {whose}: ")
    if read_password(args, f"new password for {whose}, again: ") != first:
        raise NotLoggedIn("the two new passwords differ; nothing changed")
    return first


def sign_now(args: argparse.Namespace, ledger: Ledger, action: str) -> Any:
    """Re-authenticate the caller for a signature on ``action``; returns the signer's row."""
    user, _ = prompts.signer(
        identity_of(args, ledger),
        args.principal,
        action,
        getattr(args, "meaning", None),
        args.password_stdin,
    )
    return user


# --- commands ------------------------------------------------------------------------------------


class ReinitRefused(IdentityError):
    reason = "ledger-exists"


def guard_reinit(args: argparse.Namespace, ledger: Ledger) -> Principal | None:
    """``ledger init`` on a ledger that already has users: only an admin who is logged in may
    run it (it then migrates and checks the key, nothing else), it never makes another first
    admin, and it never keys a trail again whose keys were removed. None for a ledger without
    users (new, or from before users existed): its first admin is made as usual."""
    identity = identity_of(args, ledger)
    if not identity.has_users():
        return None
    where = f"ledger {ledger.path} already has users"
    if args.admin or args.one_time_secret:
        raise ReinitRefused(
            f"{where}: its first admin exists and --admin/--one-time-secret would make another; "
            "nothing changed (an admin adds users with 'linectl user add')"
        )
    key_path = audit_key_path(policy_of(args), Path(ledger.path))
    if ledger.identity.keyed() is None and load_audit_key(key_path) is not None:
        raise ReinitRefused(
            f"{where} and the audit key {key_path}, but its audit trail carries no key: its "
            "keys were removed from the file, so keying it again would hide what changed; "
            "nothing changed (run 'linectl audit verify')"
        )
    attach_key(args, ledger)  # a keyed trail whose key is missing or wrong is refused here
    try:
        return caller(args, ledger)  # permission ledger.init: an admin
    except IdentityError as exc:
        refused = ReinitRefused(
            f"{where}: 'ledger init' on it needs an admin logged in (linectl login NAME, or "
            f"--token-file); nothing changed: {exc.message}"
        )
        refused.reason = exc.reason
        raise refused from None


def init_admin(args: argparse.Namespace, ledger: Ledger) -> None:
    """The first admin of a new ledger: a one-time secret in a 0600 file, or a prompt."""
    identity = identity_of(args, ledger)
    if identity.has_users():
        return
    if not args.admin:
        if not sys.stdin.isatty() and not args.password_stdin:
            raise NotLoggedIn(
                "the ledger has no user yet: give --admin NAME (with --one-time-secret FILE, "
                "or a password typed at the prompt)"
            )
        args.admin = input("first admin's user name: ").strip()
    if args.one_time_secret:
        secret = secrets.token_urlsafe(18)
        write_secret_file(Path(args.one_time_secret), secret + "\n")
        identity.bootstrap_admin(args.admin, args.admin, secret, one_time=True)
        print(f"admin {args.admin} created; one-time secret in {args.one_time_secret} (mode 0600):")
        print(f"  'linectl login {args.admin}' with it, then choose a password; delete the file")
    else:
        identity.bootstrap_admin(
            args.admin, args.admin, new_password(args, args.admin), one_time=False
        )
        print(f"admin {args.admin} created")


def cmd_login(args: argparse.Namespace, ledger: Ledger) -> int:
    identity = identity_of(args, ledger)
    password = read_password(args, f"password for {args.name}: ")
    try:
        principal, token = identity.login(args.name, password)
    except PasswordExpired:
        print(f"the password of {args.name} has expired: choose a new one", file=sys.stderr)
        fresh = new_password(args, args.name)
        identity.change_password(args.name, password, fresh)
        principal, token = identity.login(args.name, fresh)
    path = session_path(identity.policy, Path(ledger.path))
    write_secret_file(path, token + "\n")
    minutes = identity.policy.session_idle_minutes
    print(
        f"logged in as {principal.name} ({principal.role}); the session ends after "
        f"{minutes:g} min idle"
    )
    return 0


def cmd_logout(args: argparse.Namespace, ledger: Ledger) -> int:
    identity = identity_of(args, ledger)
    path = session_path(identity.policy, Path(ledger.path))
    token = read_secret_file(path, "session file")
    if token:
        with contextlib.suppress(IdentityError):  # already expired: the file goes anyway
            identity.logout(token)
        path.unlink(missing_ok=True)
    print("logged out")
    return 0


def cmd_passwd(args: argparse.Namespace, ledger: Ledger) -> int:
    identity = identity_of(args, ledger)
    old = read_password(args, f"current password for {args.name}: ")
    identity.change_password(args.name, old, new_password(args, args.name))
    print(f"password of {args.name} changed")
    return 0


def _admin(args: argparse.Namespace, ledger: Ledger, change: Callable[[Identity], str]) -> int:
    """A signed user-administration change: re-authenticate, change, record the signature."""
    signer = sign_now(args, ledger, "user.admin")
    identity = identity_of(args, ledger)
    text = change(identity)
    meaning = args.meaning or SIGNED_ACTIONS["user.admin"][0]
    Signatures(identity).record(signer, "user.admin", meaning, args.name, {"change": text})
    print(text)
    return 0


def cmd_user_add(args: argparse.Namespace, ledger: Ledger) -> int:
    first = None if args.role == "machine" else new_password(args, args.name)

    def add(identity: Identity) -> str:
        user = identity.add_user(args.principal, args.name, args.role, args.full_name or "", first)
        return f"user {user.name} added: {user.full_name}, role {user.role}"

    return _admin(args, ledger, add)


def cmd_user_list(args: argparse.Namespace, ledger: Ledger) -> int:
    users = identity_of(args, ledger).users(args.principal)
    if args.json:
        print(
            json.dumps(
                [{k: v for k, v in vars(u).items() if k != "password_hash"} for u in users],
                indent=2,
            )
        )
        return 0
    for u in users:
        state = "enabled" if u.enabled else "disabled"
        locked = f", locked until {u.locked_until}" if u.locked_until else ""
        print(f"{u.name:<20} {u.role:<10} {u.source:<9} {state}{locked}  {u.full_name}")
    return 0


def cmd_user_set(args: argparse.Namespace, ledger: Ledger) -> int:
    def change(identity: Identity) -> str:
        if args.sub == "role":
            user = identity.set_role(args.principal, args.name, args.role)
            return f"user {user.name}: role {user.role}"
        user = identity.set_enabled(args.principal, args.name, args.sub == "enable")
        return f"user {user.name}: {'enabled' if user.enabled else 'disabled'}"

    return _admin(args, ledger, change)


def cmd_user_reset(args: argparse.Namespace, ledger: Ledger) -> int:
    password = new_password(args, args.name)

    def reset(identity: Identity) -> str:
        identity.reset_password(args.principal, args.name, password)
        return f"password of {args.name} reset; it must be changed at the next login"

    return _admin(args, ledger, reset)


def cmd_token(args: argparse.Namespace, ledger: Ledger) -> int:
    identity = identity_of(args, ledger)
    if args.token_action == "list":
        for owner, t in identity.tokens(args.principal, args.name):
            state = f"revoked {t.ended_at}" if t.ended_at else f"expires {t.expires_at or 'never'}"
            print(
                f"{t.id:>4} {owner:<20} {t.label:<16} created {t.created_at}  "
                f"last used {t.last_used_at or 'never'}  {state}"
            )
        return 0
    if args.token_action == "revoke":
        identity.revoke_token(args.principal, int(args.name))
        print(f"API token {args.name} revoked")
        return 0
    token_id, token = identity.create_token(args.principal, args.name, args.label)
    if args.out:
        write_secret_file(Path(args.out), token + "\n")
        print(f"API token {token_id} for {args.name} written to {args.out} (mode 0600)")
    else:
        print(f"API token {token_id} for {args.name} (shown once, store it now):\n{token}")
    return 0


def line_config(args: argparse.Namespace, what: str) -> LineConfig:
    """The line configuration a command that writes EPCIS events needs (read point, prefix)."""
    config = config_of(args)
    if config is None:
        raise ConfigError(
            "(none)", [f"{what} writes EPCIS events: give --config LINE.toml (or $LINECTL_CONFIG)"]
        )
    return config


def cmd_batch_release(args: argparse.Namespace, ledger: Ledger) -> int:
    events = release_events(line_config(args, "batch release").line)
    password = read_password(args, f"signature (batch release): password for {args.user}: ")
    signature = Signatures(identity_of(args, ledger)).release_batch(
        args.principal,
        args.batch,
        password,
        args.meaning or "released",
        args.reason,
        events_for=events,
    )
    released = ledger.state_counts(args.batch).get(SerialState.RELEASED, 0)
    print(
        f"batch {args.batch} released: signed by {signature.printed_name} ({signature.user_name})"
        f" at {signature.at}, meaning {signature.meaning}, record {signature.record_sha256[:16]}"
    )
    print(f"{released} units Released; their EPCIS events are queued upstream")
    return 0


def cmd_audit_show(args: argparse.Namespace, ledger: Ledger) -> int:
    with ledger.identity.read() as rows:
        entries = find_audit(
            rows, actor=args.by, since=args.since, batch=args.batch, limit=args.limit
        )
    if args.json:
        print(json.dumps([vars(e) for e in entries], indent=2, ensure_ascii=False))
        return 0
    for e in entries:
        after = json.loads(e.after)
        detail = ", ".join(f"{k}={v}" for k, v in (after or {}).items() if not isinstance(v, dict))
        why = f" ({e.reason})" if e.reason else ""
        print(f"{e.id:>6} {e.at} {e.actor:<16} {e.command:<22}{why} {detail}"[:240])
    return 0


def add_identity_commands(sub: Any, add: AddCommand, batch: Any, audit: Any) -> None:
    """Register login, logout, passwd, user ..., batch release and audit show."""
    p = add("login", cmd_login, "log in: a session for the CLI and the control API")
    p.add_argument("name")
    add("logout", cmd_logout, "end this session")
    p = add("passwd", cmd_passwd, "change your own password")
    p.add_argument("name")
    users = sub.add_parser("user", help="users, roles and API tokens").add_subparsers(
        dest="sub", required=True, metavar="ACTION"
    )
    p = add("add", cmd_user_add, "add a user (a person, or a machine account)", users)
    p.add_argument("name")
    p.add_argument("--role", required=True)
    p.add_argument("--full-name", help="the printed name signatures show")
    add("list", cmd_user_list, "list users", users).add_argument("--json", action="store_true")
    for name, text in (
        ("disable", "disable a user (users are never deleted)"),
        ("enable", "enable a user again, lockout cleared"),
    ):
        add(name, cmd_user_set, text, users).add_argument("name")
    p = add("role", cmd_user_set, "change a user's role", users)
    p.add_argument("name")
    p.add_argument("role")
    add(
        "reset-password", cmd_user_reset, "set a new password (to change at login)", users
    ).add_argument("name")
    tokens = users.add_parser("token", help="API tokens for machines").add_subparsers(
        dest="token_action", required=True, metavar="ACTION"
    )
    p = add("create", cmd_token, "a new API token (shown once)", tokens)
    p.add_argument("name")
    p.add_argument("--label", default="")
    p.add_argument("--out", help="write the token to this file (0600) instead of printing it")
    add("list", cmd_token, "API tokens with last use", tokens).add_argument("name", nargs="?")
    add("revoke", cmd_token, "revoke an API token at once", tokens).add_argument(
        "name", metavar="TOKEN_ID"
    )
    for parser in (p for p in users.choices.values() if p.prog.split()[-1] != "token"):
        parser.add_argument("--meaning", choices=SIGNED_ACTIONS["user.admin"])
    p = add(
        "release", cmd_batch_release, "release a closed batch (signed, by a second person)", batch
    )
    p.add_argument("batch")
    p.add_argument("--meaning", choices=SIGNED_ACTIONS["batch.release"], default="released")
    p.add_argument("--reason", default="")
    p = add("show", cmd_audit_show, "the audit trail, readably (failed logins included)", audit)
    p.add_argument("--batch")
    p.add_argument("--user", dest="by", help="only rows by this user")
    p.add_argument("--since", help="ISO time, e.g. 2026-12-04 or 2026-12-04T08:00")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")
