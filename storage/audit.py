"""The audit chain: each entry's hash covers its content and the hash before it.

Editing, deleting, inserting or reordering a row breaks the chain at that row, which
``verify_chain`` names.

The encoding is versioned by the domain tag in front of the hashed bytes:

* v1, ``b"releasegate.audit.v1\\x00"`` + :func:`storage.canonical_v1.canonical_json_v1`: entries
  written before issue 11. That encoder was not quite RFC 8785 (see its module), so it is kept
  frozen, only to verify those entries.
* v2, ``b"releasegate.audit.v2\\x00"`` + exact RFC 8785 (:func:`storage.canonical.canonical_json`):
  every entry written now.

The hash alone tells which encoding an entry used (the tags differ, so the two hashes of one
body never coincide). A chain may move from v1 to v2 once; a v1 entry after a v2 entry is
reported, since nothing legitimate writes one (it would be a way back to the weaker encoding).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.canonical import MAX_SAFE_INTEGER, canonical_json
from storage.canonical_v1 import canonical_json_v1

DOMAIN_TAG_V1 = b"releasegate.audit.v1\x00"
DOMAIN_TAG_V2 = b"releasegate.audit.v2\x00"
DOMAIN_TAG = DOMAIN_TAG_V2  # what new entries are hashed with
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
    """The v2 hash of a new entry. Raises ``ValueError`` for what JCS cannot carry exactly
    (an int beyond ±(2^53 - 1), NaN, a lone surrogate): put such values in strings."""
    return hashlib.sha256(DOMAIN_TAG_V2 + canonical_json(dict(body))).hexdigest()


def entry_hash_v1(body: Mapping[str, Any]) -> str:
    """The v1 hash, as entries written before issue 11 carry it."""
    return hashlib.sha256(DOMAIN_TAG_V1 + canonical_json_v1(dict(body))).hexdigest()


def _v2_or_none(body: Mapping[str, Any]) -> str | None:
    # Read back from JSON text a long integer literal is a double (the float 1e20 comes back
    # as the int 100000000000000000000), so verification takes such ints as doubles.
    try:
        return hashlib.sha256(DOMAIN_TAG_V2 + canonical_json(dict(body), ints_as_doubles=True)).hexdigest()
    except (ValueError, TypeError):
        return None


def _v1_or_none(body: Mapping[str, Any]) -> str | None:
    try:
        return entry_hash_v1(body)
    except (ValueError, TypeError):
        return None


def _body(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in entry if k != "hash"}


def entry_encoding(entry: Mapping[str, Any]) -> int | None:
    """2 or 1: the encoding whose hash of the entry's body equals its ``hash``; None if neither."""
    body = _body(entry)
    if _v2_or_none(body) == entry["hash"]:
        return 2
    if _v1_or_none(body) == entry["hash"]:
        return 1
    return None


def encode_entry(entry: Mapping[str, Any]) -> bytes:
    """The entry (body plus ``hash``) as one export line: in the encoding its hash was made with,
    so the line minus ``hash`` is exactly the bytes that were hashed."""
    if entry_encoding(entry) == 1:
        return canonical_json_v1(dict(entry))
    try:
        return canonical_json(dict(entry), ints_as_doubles=True)
    except (ValueError, TypeError):
        return canonical_json_v1(dict(entry))  # an edited entry JCS cannot carry: still exportable


def _has_long_int(v: Any) -> bool:
    if isinstance(v, dict):
        return any(_has_long_int(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_long_int(x) for x in v)
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_SAFE_INTEGER


def _ijson_int(text: str) -> int | float:
    n = int(text)
    return n if abs(n) <= MAX_SAFE_INTEGER else float(n)


def parse_entry_line(line: str) -> dict[str, Any]:
    """One export line back to the entry. In a v2 line a long integer literal is a double (as
    ``audit_entries`` has it); in a v1 line it stays an exact int, as v1 printed ints exactly."""
    entry: dict[str, Any] = json.loads(line)
    if _has_long_int(entry) and "hash" in entry and entry_encoding(entry) == 2:
        entry = json.loads(line, parse_int=_ijson_int)
    return entry


class EncodingCheck:
    """Checks entries' hashes in chain order, and that the encoding never goes back from v2 to v1."""

    def __init__(self) -> None:
        self.first_v2: int | None = None

    def problem(self, entry: Mapping[str, Any]) -> str | None:
        """None when the entry's content matches its hash under an encoding allowed here."""
        seq = int(entry["seq"])
        version = entry_encoding(entry)
        if version == 2:
            if self.first_v2 is None:
                self.first_v2 = seq
            return None
        if version == 1:
            if self.first_v2 is not None:
                return (
                    f"hashed with the old v1 encoding after entry {self.first_v2} already used v2: the "
                    "encoding only moves forward (v1 to v2), never back (entry rewritten or inserted)"
                )
            return None
        return "content does not match its hash (entry edited)"


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> ChainProblem | None:
    """Entries are bodies plus ``hash``, in sequence order. Returns the first bad entry."""
    expected_seq = 1
    prev = GENESIS
    encoding = EncodingCheck()
    for e in entries:
        seq = int(e["seq"])
        if seq != expected_seq:
            return ChainProblem(seq, f"sequence gap: expected {expected_seq}, found {seq}")
        if e["prev_hash"] != prev:
            return ChainProblem(seq, "prev_hash does not match the previous entry (row deleted, inserted or reordered)")
        reason = encoding.problem(e)
        if reason is not None:
            return ChainProblem(seq, reason)
        prev = str(e["hash"])
        expected_seq += 1
    return None
