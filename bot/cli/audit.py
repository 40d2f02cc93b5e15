"""`releasegate audit verify|export`."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.settings import Settings
from storage.audit import GENESIS, ChainProblem, EncodingCheck, encode_entry, parse_entry_line
from storage.checkpoints import (
    Checkpoint,
    CheckpointStore,
    KeyError_,
    key_id,
    load_private_key,
    load_public_key,
    read_checkpoint_file,
    verify_log,
)
from storage.db import make_engine
from storage.repo import Store

CSV_COLUMNS = ["seq", "at", "actor", "action", "release_name", "phase", "outcome", "detail", "prev_hash", "hash"]
MANIFEST = "manifest.json"


async def _entries(settings: Settings, release: str | None) -> tuple[list[dict[str, Any]], list[Checkpoint]]:
    engine = make_engine(settings.database_url)
    try:
        return await Store(engine).audit_entries(release), await CheckpointStore(engine).all()
    finally:
        await engine.dispose()


def _public_keys(settings: Settings, pubkey: str | None) -> list[Any]:
    if pubkey:
        return [load_public_key(pubkey)]
    if settings.audit_signing_key:
        # The bot's own key: enough for an operator, but an auditor should pass --pubkey from elsewhere.
        return [load_private_key(settings.audit_signing_key).public_key()]
    return []


def _report(problem: ChainProblem | None, count: int, head: str, checkpoints: int, signed: bool) -> int:
    if problem is not None:
        print(f"TAMPERED: entry {problem.seq}: {problem.reason}", file=sys.stderr)
        return 1
    how = "signatures verified" if signed else "signatures NOT verified (no --pubkey)"
    print(f"intact: {count} entries, head {head}, {checkpoints} checkpoint(s) match ({how})")
    return 0


async def audit_verify(
    settings: Settings, checkpoint_file: str | None = None, pubkey: str | None = None, file: str | None = None
) -> int:
    """Recompute every hash and compare with every checkpoint we know of (database and --checkpoint)."""
    try:
        keys = _public_keys(settings, pubkey)
        extra = read_checkpoint_file(Path(checkpoint_file)) if checkpoint_file else []
    except (KeyError_, OSError, ValueError, KeyError) as exc:
        print(f"releasegate: cannot read the key or checkpoint file: {exc}", file=sys.stderr)
        return 2
    if file:
        return verify_export_file(Path(file), extra, keys)
    entries, stored = await _entries(settings, None)
    cps = _dedupe([*stored, *extra])
    problem = verify_log(entries, cps, keys)
    head = entries[-1]["hash"] if entries else "(empty)"
    return _report(problem, len(entries), head, len(cps), bool(keys))


def _dedupe(cps: Sequence[Checkpoint]) -> list[Checkpoint]:
    seen: dict[tuple[int, str, str], Checkpoint] = {}
    for c in cps:
        seen.setdefault((c.seq, c.key_id, c.signature), c)
    return list(seen.values())


def read_export(path: Path) -> list[dict[str, Any]]:
    return [parse_entry_line(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def verify_export_file(path: Path, extra: Sequence[Checkpoint], keys: Sequence[Any]) -> int:
    """Offline: the JSONL alone (plus manifest checkpoints beside it, plus --checkpoint)."""
    try:
        entries = read_export(path)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"releasegate: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    manifest_path = path.with_name(MANIFEST)
    cps = list(extra)
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for f in manifest.get("files", []):
            if f.get("name") == path.name and f.get("sha256") != _sha256_file(path):
                print(f"TAMPERED: {path.name} does not match the SHA-256 in {MANIFEST}", file=sys.stderr)
                return 1
        cps += [Checkpoint.from_dict(c) for c in manifest.get("checkpoints", [])]
    cps = _dedupe(cps)
    if not entries:
        return _report(None, 0, "(empty)", 0, bool(keys))
    if _contiguous(entries):
        first = int(entries[0]["seq"])
        # An export may start mid-chain (--since); its first entry's prev_hash is then taken on trust.
        problem = verify_log(
            entries, cps, keys, first_seq=first, first_prev=GENESIS if first == 1 else str(entries[0]["prev_hash"])
        )
        return _report(problem, len(entries), entries[-1]["hash"], len(cps), bool(keys))
    # A per-release export skips other releases' entries: each entry's own hash still proves its
    # content, and links are checked wherever two neighbours are both present.
    prev: dict[str, Any] | None = None
    encoding = EncodingCheck()
    for e in entries:
        reason = encoding.problem(e)
        if reason is not None:
            return _report(
                ChainProblem(int(e["seq"]), reason),
                len(entries),
                "",
                0,
                bool(keys),
            )
        if prev is not None and int(e["seq"]) == int(prev["seq"]) + 1 and e["prev_hash"] != prev["hash"]:
            return _report(
                ChainProblem(int(e["seq"]), "prev_hash does not match the entry before it"),
                len(entries),
                "",
                0,
                bool(keys),
            )
        if prev is not None and int(e["seq"]) <= int(prev["seq"]):
            return _report(ChainProblem(int(e["seq"]), "out of order"), len(entries), "", 0, bool(keys))
        prev = e
    print(
        f"intact: {len(entries)} entries of a partial export, each hash verified (links to entries outside "
        "the export are not checkable offline)"
    )
    return 0


def _contiguous(entries: Sequence[dict[str, Any]]) -> bool:
    seqs = [int(e["seq"]) for e in entries]
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def neutralise(cell: str) -> str:
    """Spreadsheets run cells that start with = + - @ (and tab/CR) as formulas."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def write_export(entries: list[dict[str, Any]], fmt: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        # Exactly the hashed bytes plus the hash, one entry a line, each in the encoding its hash
        # was made with (v2: RFC 8785; v1: the legacy encoder): re-verifiable offline.
        with out.open("wb") as f:
            for e in entries:
                f.write(encode_entry(e) + b"\n")
        return
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for e in entries:
            row = [e.get(c) for c in CSV_COLUMNS]
            row[CSV_COLUMNS.index("detail")] = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
            w.writerow([neutralise("" if v is None else str(v)) for v in row])


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(
    entries: Sequence[dict[str, Any]],
    checkpoints: Sequence[Checkpoint],
    files: Sequence[Path],
    *,
    fmt: str,
    release: str | None,
    since: str | None,
    now: datetime,
    public_key_id: str | None,
) -> dict[str, Any]:
    first, last = (entries[0], entries[-1]) if entries else (None, None)
    lo = int(first["seq"]) if first else 0
    hi = int(last["seq"]) if last else 0
    return {
        "format": "releasegate.audit.export.v1",
        "exported_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "filter": {"release": release, "since": since},
        "range": {
            "first_seq": lo or None,
            "last_seq": hi or None,
            "first_at": first["at"] if first else None,
            "last_at": last["at"] if last else None,
        },
        "counts": {"entries": len(entries), "by_action": _count_by(entries, "action")},
        "first_hash": first["hash"] if first else None,
        "last_hash": last["hash"] if last else None,
        "contiguous": bool(entries) and _contiguous(list(entries)),
        "checkpoints": [c.to_dict() for c in checkpoints if lo <= c.seq <= hi],
        "signing_key_id": public_key_id,
        "files": [{"name": p.name, "format": fmt, "bytes": p.stat().st_size, "sha256": _sha256_file(p)} for p in files],
        "how_to_verify": [
            f"sha256sum {' '.join(p.name for p in files)}  # compare with files[].sha256",
            "Each JSONL line is the entry as hashed plus its hash: "
            "hash = SHA-256(b'releasegate.audit.v2\\x00' + RFC 8785 canonical JSON (JCS) of the line without "
            "'hash'), and each entry's prev_hash is the hash of the entry before it (seq - 1).",
            "Entries written before the v2 encoding (issue 11) keep their v1 hash: SHA-256(b'releasegate.audit.v1"
            "\\x00' + the legacy encoding, storage/canonical_v1.py, which differs from RFC 8785 in some "
            "numbers). A chain may switch from v1 to v2 once; a v1 entry after a v2 one is reported as tampering.",
            "Checkpoints are Ed25519 signatures over b'releasegate.audit.checkpoint.v1\\x00' + canonical JSON of "
            "{seq, head_hash, signed_at, key_id}; key_id is the first 16 hex digits of SHA-256 of the raw public key.",
            "releasegate audit verify --file <export.jsonl> --pubkey <public key>  # uses this manifest's checkpoints",
        ],
    }


def _count_by(entries: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries:
        out[str(e[key])] = out.get(str(e[key]), 0) + 1
    return dict(sorted(out.items()))


async def audit_export(settings: Settings, fmt: str, release: str | None, out: str, since: str | None = None) -> int:
    entries, checkpoints = await _entries(settings, release)
    if since:
        entries = [e for e in entries if _after(e, since)]
    path = Path(out)
    write_export(entries, fmt, path)
    kid = key_id(load_private_key(settings.audit_signing_key).public_key()) if settings.audit_signing_key else None
    manifest = build_manifest(
        entries, checkpoints, [path], fmt=fmt, release=release, since=since, now=datetime.now(UTC), public_key_id=kid
    )
    (path.parent / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries to {out} and {path.parent / MANIFEST}")
    return 0


def _after(entry: dict[str, Any], since: str) -> bool:
    """``--since`` is a sequence number or an ISO date/time (entries at or after it)."""
    if since.isdigit():
        return int(entry["seq"]) >= int(since)
    at = datetime.fromisoformat(str(entry["at"]).replace("Z", "+00:00"))
    bound = datetime.fromisoformat(since.replace("Z", "+00:00"))
    if bound.tzinfo is None:
        bound = bound.replace(tzinfo=UTC)
    return at >= bound
