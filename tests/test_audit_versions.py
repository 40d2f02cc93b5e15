"""The audit encoding is versioned: v1 chains (written before issue 11) still verify, new entries
are v2 (exact RFC 8785), and the encoding only ever moves forward.

tests/data/audit_v1/ was written by the code at c909bcb (see its README), not by this code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli.audit import audit_export, audit_verify, read_export
from bot.settings import load_settings
from storage.audit import (
    DOMAIN_TAG,
    GENESIS,
    encode_entry,
    entry_body,
    entry_encoding,
    entry_hash,
    entry_hash_v1,
    verify_chain,
)
from storage.canonical import canonical_json
from storage.canonical_v1 import canonical_json_v1
from storage.checkpoints import verify_log
from storage.db import make_engine, upgrade
from storage.repo import AuditNote, Store

REPO = Path(__file__).resolve().parents[1]
V1 = REPO / "tests" / "data" / "audit_v1"
PUBKEY = "5C/SEmaAL0m73FgjX6CIsjlKT0Y2FjwlgFByYUaUXBg="  # the fixture's throw-away test key
T1 = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RELEASEGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def _link(entries: list[dict[str, Any]], version: int, **fields: Any) -> dict[str, Any]:
    """Append a correctly linked entry hashed with the given encoding (what a forger could do)."""
    last = entries[-1] if entries else None
    body = entry_body(
        seq=len(entries) + 1,
        at=T1 + timedelta(seconds=len(entries)),
        actor=fields.get("actor", "U1"),
        action="test.link",
        release_id=None,
        release_name=None,
        phase=None,
        outcome="ok",
        detail=fields.get("detail", {}),
        prev_hash=last["hash"] if last else GENESIS,
    )
    body["hash"] = entry_hash(body) if version == 2 else entry_hash_v1(body)
    entries.append(body)
    return body


@pytest.fixture
async def v1_store(tmp_path: Path) -> AsyncIterator[Store]:
    db = tmp_path / "audit.db"
    # The v1 database is kept as its SQL dump (text, reviewable, no database file in git).
    con = sqlite3.connect(db)
    con.executescript((V1 / "audit_v1.sql").read_text(encoding="utf-8"))
    con.close()
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await upgrade(engine)
    yield Store(engine)
    await engine.dispose()


def test_domain_tag_is_v2() -> None:
    assert DOMAIN_TAG == b"releasegate.audit.v2\x00"


def test_v1_export_verifies_with_verify_chain_and_the_cli(tmp_path: Path) -> None:
    entries = read_export(V1 / "audit_v1.jsonl")
    assert len(entries) == 7 and [entry_encoding(e) for e in entries] == [1] * 7
    assert verify_chain(entries) is None
    assert verify_log(entries) is None
    # The fixture really exercises the difference: entry 2 encodes differently under JCS.
    body2 = {k: v for k, v in entries[1].items() if k != "hash"}
    assert canonical_json_v1(body2) != canonical_json(body2, ints_as_doubles=True)
    assert b"333333333333333311488" in canonical_json_v1(body2)
    # Every line is still exactly the bytes that were hashed, plus the hash.
    for line, e in zip((V1 / "audit_v1.jsonl").read_bytes().splitlines(), entries, strict=True):
        assert line == encode_entry(e)
    done = _cli("verify", "--file", str(V1 / "audit_v1.jsonl"), "--pubkey", PUBKEY, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "intact: 7 entries" in done.stdout and "1 checkpoint(s) match (signatures verified)" in done.stdout


def test_tampered_v1_export_is_caught(tmp_path: Path) -> None:
    out = tmp_path / "audit_v1.jsonl"
    lines = (V1 / "audit_v1.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"tiny_float":0.000003' in lines[1]
    lines[1] = lines[1].replace('"tiny_float":0.000003', '"tiny_float":0.000004')
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = json.loads((V1 / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][0]["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()  # a forger keeps it in step
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    done = _cli("verify", "--file", str(out), "--pubkey", PUBKEY, tmp_path=tmp_path)
    assert done.returncode == 1
    assert "TAMPERED: entry 2: content does not match its hash (entry edited)" in done.stderr
    # Re-hashing the edited entry as v1 and relinking the chain is still caught by the checkpoint.
    entries = read_export(out)
    for i, e in enumerate(entries):
        if i:
            e["prev_hash"] = entries[i - 1]["hash"]
        e["hash"] = entry_hash_v1({k: v for k, v in e.items() if k != "hash"})
    assert verify_chain(entries) is None
    out.write_bytes(b"".join(encode_entry(e) + b"\n" for e in entries))
    manifest["files"][0]["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    done = _cli("verify", "--file", str(out), "--pubkey", PUBKEY, tmp_path=tmp_path)
    assert done.returncode == 1 and "TAMPERED: entry 7: hash differs from the checkpoint" in done.stderr


def test_v2_then_v1_is_refused(tmp_path: Path) -> None:
    entries = read_export(V1 / "audit_v1.jsonl")
    assert verify_chain(entries) is None
    _link(entries, 2, detail={"first": "v2"})
    _link(entries, 2)
    assert verify_chain(entries) is None  # v1 → v2 is the allowed upgrade
    _link(entries, 1, actor="U0MALLORY")  # properly linked, correctly hashed, but with the old encoding
    problem = verify_chain(entries)
    assert problem is not None and problem.seq == 10
    assert "v1 encoding after entry 8 already used v2" in problem.reason and "never back" in problem.reason
    problem = verify_log(entries)
    assert problem is not None and problem.seq == 10 and "never back" in problem.reason
    out = tmp_path / "mixed.jsonl"
    out.write_bytes(b"".join(encode_entry(e) + b"\n" for e in entries))
    done = _cli("verify", "--file", str(out), tmp_path=tmp_path)
    assert done.returncode == 1 and "TAMPERED: entry 10: hashed with the old v1 encoding after entry 8" in done.stderr
    # A partial (per-release) export is held to the same rule.
    out.write_bytes(b"".join(encode_entry(e) + b"\n" for e in [entries[0], *entries[7:]]))
    done = _cli("verify", "--file", str(out), tmp_path=tmp_path)
    assert done.returncode == 1 and "TAMPERED: entry 10: hashed with the old v1 encoding" in done.stderr
    # v1 after v1 after v2 ... and an all-v2 chain: fine; v2, v1 from the start: refused.
    fresh: list[dict[str, Any]] = []
    _link(fresh, 2)
    _link(fresh, 1)
    problem = verify_chain(fresh)
    assert problem is not None and problem.seq == 2


async def test_v1_database_verifies_then_grows_in_v2(
    v1_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = v1_store.engine.url.render_as_string(hide_password=False)
    settings = load_settings(RELEASEGATE_DATABASE_URL=url)
    assert await audit_verify(settings, pubkey=PUBKEY) == 0
    assert "intact: 7 entries" in capsys.readouterr().out
    old = await v1_store.audit_entries()
    assert [entry_encoding(e) for e in old] == [1] * 7
    for i, d in enumerate([{"f": 1e21 / 3, "g": 1e-5 / 3, "h": 1e300, "i": 1e16}, {"i": 8}, {"i": 9}]):
        await v1_store.audit(AuditNote("U2", "test.v2", "ok", d), T1 + timedelta(seconds=i))
    entries = await v1_store.audit_entries()
    assert [entry_encoding(e) for e in entries] == [1] * 7 + [2] * 3
    assert entries[7]["prev_hash"] == old[-1]["hash"]
    assert verify_chain(entries) is None
    assert await audit_verify(settings, pubkey=PUBKEY) == 0
    assert "intact: 10 entries" in capsys.readouterr().out
    # Export: v1 lines stay byte for byte what they were, v2 lines are JCS; both read back equal.
    out = tmp_path / "export" / "audit.jsonl"
    assert await audit_export(settings, "jsonl", None, str(out)) == 0
    lines = out.read_bytes().splitlines()
    assert lines[:7] == (V1 / "audit_v1.jsonl").read_bytes().splitlines()
    assert b'"f":333333333333333300000' in lines[7] and b'"g":0.0000033333333333333337' in lines[7]
    back = read_export(out)
    assert back[7:] == entries[7:]  # v2: exact JCS numbers read back as the same doubles
    assert isinstance(back[7]["detail"]["f"], float)
    # v1 hashed (and exported) 1e-5/3 as 0.000003, so that value never round-tripped; the bytes do.
    assert back[1]["detail"]["tiny_float"] == 3e-06 != entries[1]["detail"]["tiny_float"]
    assert [encode_entry(e) for e in back] == [encode_entry(e) for e in entries]
    capsys.readouterr()
    assert await audit_verify(settings, pubkey=PUBKEY, file=str(out)) == 0
    assert "intact: 10 entries" in capsys.readouterr().out
    # Edits in the database are caught in either encoding.
    async with v1_store.engine.begin() as c:
        await c.execute(text("DROP TRIGGER audit_events_no_update"))
        await c.execute(text("UPDATE audit_events SET outcome = 'fail' WHERE seq IN (3, 9)"))
    assert await audit_verify(settings, pubkey=PUBKEY) == 1
    assert "TAMPERED: entry 3: content does not match its hash (entry edited)" in capsys.readouterr().err
    problem = verify_chain(await v1_store.audit_entries())
    assert problem is not None and problem.seq == 3


async def test_new_entries_refuse_what_jcs_cannot_carry(v1_store: Store) -> None:
    with pytest.raises(ValueError, match="outside I-JSON's exact range"):
        await v1_store.audit(AuditNote("U3", "test.big", "ok", {"n": 2**60 + 1}), T1)
    assert len(await v1_store.audit_entries()) == 7  # nothing half-written
    await v1_store.audit(AuditNote("U3", "test.big", "ok", {"n": str(2**60 + 1)}), T1)
    assert verify_chain(await v1_store.audit_entries()) is None
