"""The audit chain: each entry's hash covers its content and the hash before it.

Editing, deleting, inserting or reordering a row breaks the chain at that row, which
``verify_chain`` names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.canonical_v1 import canonical_json_v1 as canonical_json

DOMAIN_TAG = b"releasegate.audit.v1\x00"
GENESIS = "0" * 64


def format_at(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_body(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    release_id: int | None,
    release_name: str | None,
    phase: str | None,
    outcome: str,
    detail: Mapping[str, Any],
    prev_hash: str,
) -> dict[str, Any]:
    """The exact dict that is hashed (and exported as JSONL)."""
    return {
        "seq": seq,
        "at": format_at(at),
        "actor": actor,
        "action": action,
        "release_id": release_id,
        "release_name": release_name,
        "phase": phase,
        "outcome": outcome,
        "detail": dict(detail),
        "prev_hash": prev_hash,
    }


def entry_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(DOMAIN_TAG + canonical_json(dict(body))).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> ChainProblem | None:
    """Entries are bodies plus ``hash``, in sequence order. Returns the first bad entry."""
    expected_seq = 1
    prev = GENESIS
    for e in entries:
        seq = int(e["seq"])
        if seq != expected_seq:
            return ChainProblem(seq, f"sequence gap: expected {expected_seq}, found {seq}")
        if e["prev_hash"] != prev:
            return ChainProblem(seq, "prev_hash does not match the previous entry (row deleted, inserted or reordered)")
        body = {k: e[k] for k in e if k != "hash"}
        if entry_hash(body) != e["hash"]:
            return ChainProblem(seq, "content does not match its hash (row edited)")
        prev = str(e["hash"])
        expected_seq += 1
    return None
