"""``releasegate keys create|list|revoke`` against SQLite and PostgreSQL: what the operator sees and
what the database keeps (a hash, never the key) and the audit log records."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli.main import main
from storage.db import make_engine, upgrade
from storage.keys import KeyStore, hash_key
from storage.repo import Store

TOKEN = re.compile(r"^rgk_\d+_[A-Za-z0-9_-]{40,}$", re.M)


@pytest.fixture
def db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RELEASEGATE_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # keep a developer's .env out of it

    async def migrate() -> None:  # as an operator would on Postgres: `releasegate db upgrade` first
        engine = make_engine(db_url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return db_url


def query(url: str, sql: str) -> list[Any]:
    async def go() -> list[Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql))).all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def audit(url: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        engine = make_engine(url)
        try:
            return await Store(engine).audit_entries()
        finally:
            await engine.dispose()

    return asyncio.run(go())


def state_of(url: str, token: str) -> str | None:
    async def go() -> str | None:
        engine = make_engine(url)
        try:
            return (await KeyStore(Store(engine)).lookup(token, datetime.now(UTC))).state
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_create_prints_the_key_once_and_stores_only_its_hash(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["keys", "create", "--scope", "metrics:write,flags:read", "--name", "rum-collector", "--expires", "90d"]
    )
    out = capsys.readouterr().out
    assert code == 0
    tokens = TOKEN.findall(out)
    assert len(tokens) == 1 and out.count(tokens[0]) == 1
    token = tokens[0]
    assert "shown only this once" in out

    rows = query(db, "SELECT id, name, secret_hash, scopes, origins, expires_at, revoked_at FROM api_keys")
    assert len(rows) == 1
    key_id, name, secret_hash, _scopes, _origins, expires_at, revoked_at = rows[0]
    assert name == "rum-collector" and revoked_at is None and expires_at is not None
    assert secret_hash == hash_key(token)
    dumped = " ".join(str(v) for v in rows[0])
    assert token not in dumped and token.split("_", 2)[2] not in dumped
    assert state_of(db, token) == "active"

    entries = audit(db)
    assert [(e["action"], e["outcome"]) for e in entries] == [("key.create", "created")]
    assert entries[0]["actor"].startswith("cli:")
    assert entries[0]["detail"]["key"] == key_id and entries[0]["detail"]["scopes"] == ["flags:read", "metrics:write"]
    assert entries[0]["detail"]["name"] == "rum-collector" and entries[0]["detail"]["expires"]
    assert token not in str(entries) and secret_hash not in str(entries)

    # `keys list` shows the key without its secret.
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "rum-collector" in listing and "flags:read,metrics:write" in listing and "active" in listing
    assert token not in listing and secret_hash not in listing


def test_revoke_refuses_the_key_from_then_on(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "keys",
                "create",
                "--scope",
                "rum:write",
                "--origin",
                "https://shop.example.com/",
                "--origin",
                "http://localhost:8080",
            ]
        )
        == 0
    )
    token = TOKEN.findall(capsys.readouterr().out)[0]
    key_id = token.split("_")[1]
    assert query(db, "SELECT name, origins FROM api_keys")[0][0] == f"key-{key_id}"

    assert main(["keys", "revoke", key_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert state_of(db, token) == "revoked"
    assert query(db, "SELECT revoked_at IS NOT NULL, revoked_by FROM api_keys")[0][0]
    assert main(["keys", "revoke", key_id]) == 0  # again: nothing changes, nothing more is audited
    assert "already revoked" in capsys.readouterr().out
    entries = audit(db)
    assert [e["action"] for e in entries] == ["key.create", "key.revoke"]
    assert entries[1]["detail"]["origins"] == ["https://shop.example.com", "http://localhost:8080"]
    assert main(["keys", "list"]) == 0
    assert "revoked" in capsys.readouterr().out

    assert main(["keys", "revoke", "999"]) == 2
    assert "no API key with id 999" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "metrics:write,deploy:all"], "unknown scope 'deploy:all'"),
        (["--scope", "rum:write"], "scope rum:write is used from browsers"),
        (["--scope", "rum:write", "--origin", "https://shop.example.com/cart"], "without a path"),
        (["--scope", "flags:read", "--expires", "soon"], "not a duration"),
        (["--scope", "flags:read", "--name", "has space"], "key name 'has space'"),
    ],
)
def test_bad_requests_exit_2_with_one_clear_line(
    db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["keys", "create", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("releasegate: ")
    assert query(db, "SELECT COUNT(*) FROM api_keys")[0][0] == 0
