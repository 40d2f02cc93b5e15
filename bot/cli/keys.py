"""``releasegate keys create|list|revoke``: scoped API keys, so that no client holds more than it needs.

``create`` prints the key once; only its SHA-256 is stored. Creating and revoking are audit
entries with the actor ``cli:<os user>``. Exit 0 done, 2 bad input (unknown scope, unknown key id).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.settings import load_settings
from gates.access import SCOPES, KeyRuleError, check_key_name, check_key_request, parse_scopes
from gates.durations import parse_duration

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from storage.keys import KeyStore


def add_keys_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``keys create|list|revoke`` on the main ``releasegate`` parser's subparsers."""
    keys: argparse.ArgumentParser = subparsers.add_parser("keys", help="create, list and revoke scoped API keys")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    scopes = "; ".join(f"{s}: {what}" for s, what in SCOPES.items())
    create = ksub.add_parser(
        "create",
        help="create a key and print it once (only its hash is stored)",
        description=f"Scopes: {scopes}. RELEASEGATE_API_TOKEN stays the admin key with every scope.",
    )
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="S[,S…]",
        help=f"what the key may do: {', '.join(SCOPES)} (comma-separated or repeated)",
    )
    create.add_argument(
        "--origin",
        action="extend",
        nargs="+",
        default=[],
        metavar="URL",
        help="sites allowed to use the key from browsers, e.g. https://shop.example.com (required for rum:write)",
    )
    create.add_argument("--name", default=None, help="a label for lists and the audit log (default key-<id>)")
    create.add_argument(
        "--expires", default=None, metavar="DURATION", help="lifetime such as 90d, 12h (default: never expires)"
    )
    ksub.add_parser("list", help="every key: id, name, scopes, origins, dates (never the key itself)")
    revoke = ksub.add_parser("revoke", help="revoke a key now; requests with it get 401 'key revoked'")
    revoke.add_argument("id", type=int, metavar="ID")
    return keys


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def keys_main(args: argparse.Namespace, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    if args.keys_command == "create":
        try:
            scopes = parse_scopes(args.scope)
            origins = check_key_request(scopes, args.origin)
            name = check_key_name(args.name) if args.name is not None else None
            lifetime = parse_duration(args.expires) if args.expires is not None else None
        except (KeyRuleError, ValueError) as exc:
            print(f"releasegate: {str(exc).removeprefix('Value error, ')}", file=sys.stderr)
            return 2
        now = clock()
        expires_at = now + lifetime if lifetime is not None else None
        return asyncio.run(_with_store(lambda ks: _create(ks, name, scopes, origins, expires_at, now)))
    if args.keys_command == "list":
        return asyncio.run(_with_store(lambda ks: _list(ks, clock())))
    if args.keys_command == "revoke":
        return asyncio.run(_with_store(lambda ks: _revoke(ks, args.id, clock())))
    return 2


async def _with_store(work: Callable[[KeyStore], Awaitable[int]]) -> int:
    # Imported here: the CLI's other commands should not pay for the app's imports.
    from bot.app import StartupError, prepare_database
    from storage.keys import KeyStore
    from storage.repo import Store

    settings = load_settings()
    try:
        engine = await prepare_database(settings.database_url)
    except StartupError as exc:
        print(f"releasegate: {exc}", file=sys.stderr)
        return 2
    try:
        return await work(KeyStore(Store(engine)))
    finally:
        await engine.dispose()


async def _create(
    ks: KeyStore,
    name: str | None,
    scopes: frozenset[str],
    origins: tuple[str, ...],
    expires_at: datetime | None,
    now: datetime,
) -> int:
    created = await ks.create(
        name=name, scopes=scopes, origins=origins, expires_at=expires_at, actor=cli_actor(), now=now
    )
    row = created.row
    print(
        f"key {row.id} ({row.name}) created: scopes {', '.join(sorted(row.scopes))}"
        + (f"; origins {', '.join(row.origins)}" if row.origins else "")
        + (f"; expires {_when(row.expires_at)}" if row.expires_at else "; never expires")
    )
    print("Copy it now; it is shown only this once (only its hash is stored):")
    print(created.token)
    return 0


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "—"


async def _list(ks: KeyStore, now: datetime) -> int:
    rows = await ks.all()
    if not rows:
        print("no API keys yet; `releasegate keys create --scope …` makes one")
        return 0
    header = ("id", "name", "scopes", "origins", "created", "expires", "revoked", "last used", "state")
    table = [header]
    for r in rows:
        table.append(
            (
                str(r.id),
                r.name,
                ",".join(sorted(r.scopes)),
                ",".join(r.origins) or "—",
                _when(r.created_at),
                _when(r.expires_at) if r.expires_at else "never",
                _when(r.revoked_at),
                _when(r.last_used_at),
                r.state(now),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


async def _revoke(ks: KeyStore, key_id: int, now: datetime) -> int:
    before = await ks.get(key_id)
    if before is None:
        print(f"releasegate: no API key with id {key_id} (see `releasegate keys list`)", file=sys.stderr)
        return 2
    if before.revoked_at is not None:
        print(f"key {key_id} ({before.name}) was already revoked at {_when(before.revoked_at)}")
        return 0
    row = await ks.revoke(key_id, actor=cli_actor(), now=now)
    print(f"key {key_id} ({row.name if row else before.name}) revoked; requests with it now get 401 'key revoked'")
    return 0
