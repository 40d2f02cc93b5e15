"""Tampering with the audit log as a database admin would, on SQLite and Postgres.

The append-only triggers stop ordinary writes; an admin can drop or disable them. After that,
every kind of rewrite must still be caught by `releasegate audit verify`, naming the entry.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.artifacts.checkpoints import maybe_checkpoint
from bot.cli.audit import audit_export, audit_verify, read_export
from bot.settings import load_settings
from storage.audit import entry_body, entry_hash
from storage.checkpoints import CheckpointStore, key_id, public_key_b64, sign
from storage.repo import AuditNote, Store

T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def _seed() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return key, base64.b64encode(raw).decode()


async def _append(store: Store, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await store.audit(
            AuditNote(f"U{i:09d}", "test.event", "ok", {"i": i, "note": f"entry {i + 1}"}), T0 + timedelta(seconds=i)
        )


async def _unlock(store: Store, table: str = "audit_events") -> None:
    """What an admin with DDL rights does first."""
    async with store.engine.begin() as c:
        if store.engine.dialect.name == "sqlite":
            short = "audit_events" if table == "audit_events" else "audit_checkpoints"
            await c.execute(text(f"DROP TRIGGER {short}_no_update"))
            await c.execute(text(f"DROP TRIGGER {short}_no_delete"))
        else:
            await c.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


async def _sql(store: Store, *stmts: str, **params: Any) -> None:
    async with store.engine.begin() as c:
        for s in stmts:
            await c.execute(text(s), params)


def _settings(store: Store, **extra: str) -> Any:
    return load_settings(RELEASEGATE_DATABASE_URL=store.engine.url.render_as_string(hide_password=False), **extra)


async def _verify(store: Store, capsys: pytest.CaptureFixture[str], **kw: Any) -> tuple[int, str]:
    settings = kw.pop("settings", None) or _settings(store)
    rc = await audit_verify(settings, **kw)
    out = capsys.readouterr()
    return rc, out.out + out.err


async def test_triggers_refuse_update_and_delete(store: Store) -> None:
    await _append(store, 3)
    for stmt in ("UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 2", "DELETE FROM audit_events WHERE seq = 3"):
        with pytest.raises(DBAPIError, match="append-only"):
            await _sql(store, stmt)
    assert [e["actor"] for e in await store.audit_entries()] == ["U000000000", "U000000001", "U000000002"]


async def test_intact_log_verifies(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    await _append(store, 10)
    rc, out = await _verify(store, capsys)
    head = (await store.audit_entries())[-1]["hash"]
    assert rc == 0, out
    assert f"intact: 10 entries, head {head}" in out


async def test_edited_row_is_named(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    await _append(store, 10)
    await _unlock(store)
    await _sql(store, "UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 4")
    rc, out = await _verify(store, capsys)
    assert rc == 1
    assert "TAMPERED: entry 4: content does not match its hash (entry edited)" in out


async def test_deleted_row_is_named(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    await _append(store, 10)
    await _unlock(store)
    await _sql(store, "DELETE FROM audit_events WHERE seq = 6")
    rc, out = await _verify(store, capsys)
    assert rc == 1
    assert "TAMPERED: entry 6: missing: the chain jumps from 5 to 7 (entry deleted)" in out


async def test_reordered_rows_are_named(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    await _append(store, 10)
    await _unlock(store)
    # Swap entries 3 and 4 by renumbering them (seq is the primary key, so via a free number).
    await _sql(
        store,
        "UPDATE audit_events SET seq = 1000 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = 1000",
    )
    rc, out = await _verify(store, capsys)
    assert rc == 1
    assert "TAMPERED: entry 3: prev_hash does not match the entry before it" in out


async def test_inserted_row_is_named_even_with_a_correct_hash(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    await _append(store, 10)
    before = await store.audit_entries()
    await _unlock(store)
    await _sql(
        store,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 5",
        "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000",
    )
    # A forger who knows the hashing scheme links the new row to entry 4 properly.
    at = T0 + timedelta(seconds=4, milliseconds=500)
    body = entry_body(
        seq=5,
        at=at,
        actor="U0MALLORY",
        action="decision.approve",
        release_id=None,
        release_name=None,
        phase=None,
        outcome="approve",
        detail={"forged": True},
        prev_hash=before[3]["hash"],
    )
    await _sql(
        store,
        "INSERT INTO audit_events (seq, at, actor, action, release_id, release_name, phase, outcome, "
        "detail, prev_hash, hash) VALUES (5, :at, 'U0MALLORY', 'decision.approve', NULL, NULL, NULL, "
        "'approve', :detail, :prev, :hash)",
        at=at if store.engine.dialect.name != "sqlite" else at.replace(tzinfo=None),
        detail=json.dumps({"forged": True}),
        prev=before[3]["hash"],
        hash=entry_hash(body),
    )
    entries = await store.audit_entries()
    assert len(entries) == 11 and entries[4]["actor"] == "U0MALLORY" and entries[4]["hash"] == entry_hash(body)
    rc, out = await _verify(store, capsys)
    assert rc == 1
    assert "TAMPERED: entry 5: inserted: entry 5 is not part of the chain (entry 6 links to 4)" in out


async def test_truncated_tail_after_checkpoint_is_named(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key, seed = _seed()
    settings = _settings(store, RELEASEGATE_AUDIT_SIGNING_KEY=seed, RELEASEGATE_CHECKPOINT_EVERY="8")
    await _append(store, 8)
    cp = await maybe_checkpoint(store, settings, None, T0 + timedelta(minutes=1))
    assert cp is not None and cp.seq == 8
    saved = tmp_path / "checkpoint.json"
    saved.write_text(json.dumps(cp.to_dict()))
    # The admin truncates the last three entries and also wipes the checkpoint table.
    await _unlock(store)
    await _unlock(store, "audit_checkpoints")
    await _sql(store, "DELETE FROM audit_events WHERE seq >= 6", "DELETE FROM audit_checkpoints")
    # The chain alone looks fine: exactly why the checkpoint is kept outside the database.
    rc, out = await _verify(store, capsys)
    assert rc == 0 and "intact: 5 entries" in out
    rc, out = await _verify(store, capsys, checkpoint_file=str(saved), pubkey=public_key_b64(key.public_key()))
    assert rc == 1
    assert "TAMPERED: entry 6: missing: the chain ends at 5 but the checkpoint" in out
    assert "covers up to 8 (tail truncated)" in out


async def test_rewritten_and_rehashed_chain_is_caught_by_checkpoints(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key, seed = _seed()
    settings = _settings(store, RELEASEGATE_AUDIT_SIGNING_KEY=seed, RELEASEGATE_CHECKPOINT_EVERY="4")
    await _append(store, 4)
    assert await maybe_checkpoint(store, settings, None, T0 + timedelta(minutes=1)) is not None
    await _append(store, 4, start=4)
    assert await maybe_checkpoint(store, settings, None, T0 + timedelta(minutes=2)) is not None
    await _unlock(store)
    # Edit entry 3 and recompute every hash from there, so the chain itself is consistent again.
    entries = await store.audit_entries()
    prev = entries[1]["hash"]
    for e in entries[2:]:
        body = {k: v for k, v in e.items() if k != "hash"}
        if e["seq"] == 3:
            body["actor"] = "U0MALLORY"
        body["prev_hash"] = prev
        new = entry_hash(body)
        await _sql(
            store,
            "UPDATE audit_events SET actor = :actor, prev_hash = :prev, hash = :h WHERE seq = :seq",
            actor=body["actor"],
            prev=prev,
            h=new,
            seq=e["seq"],
        )
        prev = new
    from storage.audit import verify_chain

    assert verify_chain(await store.audit_entries()) is None
    rc, out = await _verify(store, capsys, pubkey=public_key_b64(key.public_key()))
    assert rc == 1
    assert "TAMPERED: entry 4: hash differs from the checkpoint signed" in out


async def test_forged_checkpoint_signature_is_refused(
    store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key, _ = _seed()
    other, _ = _seed()
    await _append(store, 5)
    head = (await store.audit_entries())[-1]["hash"]
    forged = sign(other, 5, head, T0)
    (tmp_path / "cp.json").write_text(json.dumps(forged.to_dict()))
    rc, out = await _verify(
        store, capsys, checkpoint_file=str(tmp_path / "cp.json"), pubkey=public_key_b64(key.public_key())
    )
    assert rc == 1 and f"checkpoint at 5 is signed by unknown key {key_id(other.public_key())}" in out
    tampered = forged.to_dict() | {"key_id": key_id(key.public_key())}
    (tmp_path / "cp.json").write_text(json.dumps(tampered))
    rc, out = await _verify(
        store, capsys, checkpoint_file=str(tmp_path / "cp.json"), pubkey=public_key_b64(key.public_key())
    )
    assert rc == 1 and "checkpoint at 5 has an invalid signature" in out


class _Poster:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []

    async def post(self, channel: str, text: str, blocks: Any = None, thread_ts: str | None = None) -> str:
        self.posts.append((channel, text))
        return "1.0"


async def test_checkpoint_every_n_entries_or_t_minutes_and_posts_digest(store: Store) -> None:
    key, seed = _seed()
    settings = _settings(
        store,
        RELEASEGATE_AUDIT_SIGNING_KEY=seed,
        RELEASEGATE_CHECKPOINT_EVERY="5",
        RELEASEGATE_CHECKPOINT_MINUTES="10",
        RELEASEGATE_AUDIT_CHANNEL="C0AUDIT",
    )
    slack = _Poster()
    assert await maybe_checkpoint(store, settings, slack, T0) is None  # empty log
    await _append(store, 4)
    assert await maybe_checkpoint(store, settings, slack, T0 + timedelta(minutes=1)) is None  # 4 < 5, young
    await _append(store, 1, start=4)
    cp = await maybe_checkpoint(store, settings, slack, T0 + timedelta(minutes=1))
    assert cp is not None and cp.seq == 5 and cp.head_hash == (await store.audit_entries())[-1]["hash"]
    assert await maybe_checkpoint(store, settings, slack, T0 + timedelta(minutes=30)) is None  # nothing new
    await _append(store, 1, start=5)
    assert await maybe_checkpoint(store, settings, slack, T0 + timedelta(minutes=10)) is None  # 9 min since last
    cp2 = await maybe_checkpoint(store, settings, slack, T0 + timedelta(minutes=11, seconds=1))
    assert cp2 is not None and cp2.seq == 6
    assert [c for c, _ in slack.posts] == ["C0AUDIT", "C0AUDIT"]
    assert cp.digest in slack.posts[0][1] and cp.head_hash in slack.posts[0][1]
    # The posted JSON is a valid --checkpoint file.
    posted = json.loads(slack.posts[1][1].split("```")[1])
    assert posted == cp2.to_dict()
    stored = await CheckpointStore(store.engine).all()
    assert [(c.seq, c.key_id) for c in stored] == [(5, key_id(key.public_key())), (6, key_id(key.public_key()))]
    # The private key never reaches the database.
    async with store.engine.connect() as c:
        dump = str((await c.execute(text("SELECT * FROM audit_checkpoints"))).all())
    assert seed not in dump
    # A second replica calling at the same moment does not sign the same head twice.
    assert await maybe_checkpoint(store, settings, slack, T0 + timedelta(minutes=11, seconds=1)) is None


async def test_export_roundtrip_offline(store: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key, seed = _seed()
    settings = _settings(store, RELEASEGATE_AUDIT_SIGNING_KEY=seed, RELEASEGATE_CHECKPOINT_EVERY="6")
    await store.audit(
        AuditNote("U1", "test.unicode", "ok", {"reason": "naïve café ☕ =1+1", "x": 0.1, "n": 10**15}), T0
    )
    await _append(store, 6, start=1)
    assert await maybe_checkpoint(store, settings, None, T0 + timedelta(minutes=1)) is not None
    out = tmp_path / "export" / "audit.jsonl"
    assert await audit_export(settings, "jsonl", None, str(out)) == 0
    capsys.readouterr()
    manifest = json.loads((out.parent / "manifest.json").read_text())
    entries = await store.audit_entries()
    assert read_export(out) == entries
    assert manifest["counts"]["entries"] == 7 and manifest["range"]["first_seq"] == 1
    assert manifest["range"]["last_seq"] == 7
    assert manifest["first_hash"] == entries[0]["hash"] and manifest["last_hash"] == entries[-1]["hash"]
    assert [c["seq"] for c in manifest["checkpoints"]] == [7]
    import hashlib

    assert manifest["files"][0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    pub = public_key_b64(key.public_key())
    rc, text_out = await _verify(store, capsys, file=str(out), pubkey=pub)
    assert rc == 0 and "intact: 7 entries" in text_out and "1 checkpoint(s) match (signatures verified)" in text_out
    # Edit one line of the export (keeping the manifest's file hash in step, as a forger would).
    lines = out.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"U000000002"', '"U0MALLORY1"')
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest["files"][0]["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    (out.parent / "manifest.json").write_text(json.dumps(manifest))
    rc, text_out = await _verify(store, capsys, file=str(out), pubkey=pub)
    assert rc == 1 and "TAMPERED: entry 3: content does not match its hash" in text_out
    # Without fixing the manifest, the file hash alone already gives it away.
    manifest["files"][0]["sha256"] = "0" * 64
    (out.parent / "manifest.json").write_text(json.dumps(manifest))
    rc, text_out = await _verify(store, capsys, file=str(out), pubkey=pub)
    assert rc == 1 and "audit.jsonl does not match the SHA-256 in manifest.json" in text_out


async def test_csv_export_neutralises_formulas(store: Store, tmp_path: Path) -> None:
    await store.audit(AuditNote('=HYPERLINK("http://evil")', "test.csv", "+1", {"c": "@SUM(A1)"}), T0)
    await store.audit(AuditNote("-2+3", "test.csv", "ok", {}), T0)
    out = tmp_path / "audit.csv"
    assert await audit_export(_settings(store), "csv", None, str(out)) == 0
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[0]["actor"] == '\'=HYPERLINK("http://evil")' and rows[0]["outcome"] == "'+1"
    assert rows[1]["actor"] == "'-2+3"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"][0]["format"] == "csv" and manifest["counts"]["entries"] == 2


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    """The real command line, in a subprocess: 0 intact, 1 tampered naming the entry."""
    import asyncio

    from storage.db import make_engine, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def setup(tamper: bool) -> None:
        engine = make_engine(url)
        await upgrade(engine)
        store = Store(engine)
        if not tamper:
            await _append(store, 3)
        else:
            await _unlock(store)
            await _sql(store, "UPDATE audit_events SET outcome = 'fail' WHERE seq = 2")
        await engine.dispose()

    env = {**os.environ, "RELEASEGATE_DATABASE_URL": url}
    asyncio.run(setup(False))
    ok = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "verify"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "intact: 3 entries" in ok.stdout
    asyncio.run(setup(True))
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "verify"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "TAMPERED: entry 2" in bad.stderr
