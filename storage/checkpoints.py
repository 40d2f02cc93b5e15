"""Signed checkpoints of the audit chain, and the verifier that uses them.

The hash chain alone catches an edit made without recomputing hashes. An administrator who
disables the triggers can rewrite a row *and* recompute every later hash, or cut off the tail;
only something outside the database can catch that. A checkpoint is the head (seq, hash) signed
with an Ed25519 key that never enters the database, and its digest is also posted to a Slack
channel, so a copy survives whatever happens to the ``audit_checkpoints`` table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Column, UniqueConstraint, desc, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col

from storage.audit import GENESIS, ChainProblem, EncodingCheck, format_at
from storage.canonical import canonical_json
from storage.models import AuditEvent
from storage.types import UTCDateTime

# A different tag from the entries' so a checkpoint signature can never be replayed as anything else.
CHECKPOINT_TAG = b"releasegate.audit.checkpoint.v1\x00"


class KeyError_(ValueError):
    """A key setting or --pubkey argument that cannot be read; the message names what was wrong."""


class AuditCheckpointRow(SQLModel, table=True):
    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("seq", "key_id", name="uq_audit_checkpoints_seq_key"),)

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(index=True)
    head_hash: str = Field(max_length=64)
    signed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=128)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str
    signed_at: str  # format_at(): fixed text, so the signed bytes do not depend on a datetime round trip
    key_id: str
    signature: str  # base64 of the 64-byte Ed25519 signature

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "head_hash": self.head_hash,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        return cls(int(d["seq"]), str(d["head_hash"]), str(d["signed_at"]), str(d["key_id"]), str(d["signature"]))

    @property
    def digest(self) -> str:
        """Short fingerprint people can compare by eye (Slack post vs. verify output)."""
        return hashlib.sha256(signed_message(self.seq, self.head_hash, self.signed_at, self.key_id)).hexdigest()[:16]


def signed_message(seq: int, head_hash: str, signed_at: str, key_id: str) -> bytes:
    return CHECKPOINT_TAG + canonical_json(
        {"seq": seq, "head_hash": head_hash, "signed_at": signed_at, "key_id": key_id}
    )


# -- keys ----------------------------------------------------------------------------------


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_b64(public: Ed25519PublicKey) -> str:
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def _pem_or_raw(value: str) -> tuple[bytes | None, bytes | None]:
    """(PEM bytes, raw bytes): the value may be PEM text, a path to a PEM/base64 file, or base64."""
    text = value.strip()
    if "-----BEGIN" not in text and len(text) < 1024:
        p = Path(text).expanduser()
        try:
            if p.is_file():
                text = p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KeyError_(f"cannot read key file {p}: {exc.strerror}") from None
    if "-----BEGIN" in text:
        return text.encode(), None
    try:
        return None, base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyError_("not base64, PEM, or a readable key file") from None


def load_private_key(value: str) -> Ed25519PrivateKey:
    pem, raw = _pem_or_raw(value)
    try:
        if pem is not None:
            key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise KeyError_("the PEM key is not an Ed25519 private key")
            return key
        assert raw is not None
        if len(raw) != 32:
            raise KeyError_(f"a raw Ed25519 private key is 32 bytes, this one is {len(raw)}")
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, KeyError_):
            raise
        raise KeyError_(f"not a usable Ed25519 private key: {exc}") from None


def load_public_key(value: str) -> Ed25519PublicKey:
    pem, raw = _pem_or_raw(value)
    try:
        if pem is not None:
            if b"PRIVATE KEY" in pem:
                return load_private_key(value).public_key()
            key = serialization.load_pem_public_key(pem)
            if not isinstance(key, Ed25519PublicKey):
                raise KeyError_("the PEM key is not an Ed25519 public key")
            return key
        assert raw is not None
        if len(raw) != 32:
            raise KeyError_(f"a raw Ed25519 public key is 32 bytes, this one is {len(raw)}")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, KeyError_):
            raise
        raise KeyError_(f"not a usable Ed25519 public key: {exc}") from None


def sign(private: Ed25519PrivateKey, seq: int, head_hash: str, at: datetime) -> Checkpoint:
    kid = key_id(private.public_key())
    signed_at = format_at(at)
    sig = private.sign(signed_message(seq, head_hash, signed_at, kid))
    return Checkpoint(seq, head_hash, signed_at, kid, base64.b64encode(sig).decode())


def signature_valid(cp: Checkpoint, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(cp.signature), signed_message(cp.seq, cp.head_hash, cp.signed_at, cp.key_id))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def read_checkpoint_file(path: Path) -> list[Checkpoint]:
    """One checkpoint object, a JSON array of them, or JSON Lines (as saved from the audit channel)."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return []
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = data.get("checkpoints", [data]) if "seq" not in data else [data]
    return [Checkpoint.from_dict(d) for d in data]


# -- verification ----------------------------------------------------------------------------


def verify_log(
    entries: Iterable[Mapping[str, Any]],
    checkpoints: Sequence[Checkpoint] = (),
    public_keys: Sequence[Ed25519PublicKey] = (),
    *,
    first_seq: int = 1,
    first_prev: str = GENESIS,
) -> ChainProblem | None:
    """The first bad entry by sequence number, or None when chain and checkpoints agree.

    A deleted row is named by its own (missing) number rather than by the row after the gap,
    because that is the entry an investigator has to look for. With ``public_keys`` every
    checkpoint must carry a valid signature from one of them; without, checkpoints are still
    compared with the chain (useful, but a forger with database access could forge those too).
    """
    problems: list[ChainProblem] = []
    by_seq: dict[int, str] = {}
    expected = first_seq
    prev = first_prev
    encoding = EncodingCheck()
    for e in entries:
        seq = int(e["seq"])
        if seq > expected:
            problems.append(
                ChainProblem(expected, f"missing: the chain jumps from {expected - 1} to {seq} (entry deleted)")
            )
            break
        if seq < expected:
            problems.append(
                ChainProblem(
                    seq, f"out of order: entry {seq} appears after {expected - 1} (entries reordered or duplicated)"
                )
            )
            break
        if e["prev_hash"] != prev:
            if seq >= 2 and by_seq.get(seq - 2) == e["prev_hash"]:
                # This entry still links to the one two back: the one in between was slipped in.
                problems.append(
                    ChainProblem(
                        seq - 1, f"inserted: entry {seq - 1} is not part of the chain (entry {seq} links to {seq - 2})"
                    )
                )
            else:
                problems.append(
                    ChainProblem(
                        seq,
                        "prev_hash does not match the entry before it "
                        "(an entry was deleted, inserted or reordered here)",
                    )
                )
            break
        reason = encoding.problem(e)
        if reason is not None:
            problems.append(ChainProblem(seq, reason))
            break
        by_seq[seq] = str(e["hash"])
        prev = str(e["hash"])
        expected += 1
    last = expected - 1
    keys = {key_id(k): k for k in public_keys}
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if keys:
            key = keys.get(cp.key_id)
            if key is None:
                problems.append(ChainProblem(cp.seq, f"checkpoint at {cp.seq} is signed by unknown key {cp.key_id}"))
                continue
            if not signature_valid(cp, key):
                problems.append(
                    ChainProblem(
                        cp.seq, f"checkpoint at {cp.seq} has an invalid signature (checkpoint forged or altered)"
                    )
                )
                continue
        if cp.seq < first_seq:
            continue
        if cp.seq > last and not problems:
            problems.append(
                ChainProblem(
                    last + 1,
                    f"missing: the chain ends at {last} but the checkpoint signed "
                    f"{cp.signed_at} covers up to {cp.seq} (tail truncated)",
                )
            )
        elif cp.seq in by_seq and by_seq[cp.seq] != cp.head_hash:
            problems.append(
                ChainProblem(
                    cp.seq,
                    f"hash differs from the checkpoint signed {cp.signed_at}: "
                    f"an entry at or before {cp.seq} was rewritten and the chain "
                    "recomputed",
                )
            )
    return min(problems, key=lambda p: p.seq) if problems else None


# -- database -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    at: datetime


class CheckpointStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def head(self) -> Head | None:
        async with self.sessions() as s:
            q = (
                select(col(AuditEvent.seq), col(AuditEvent.hash), col(AuditEvent.at))
                .order_by(desc(col(AuditEvent.seq)))
                .limit(1)
            )
            row = (await s.execute(q)).first()
        return Head(int(row[0]), str(row[1]), row[2]) if row else None

    async def first_entry_at(self) -> datetime | None:
        async with self.sessions() as s:
            at: datetime | None = (await s.execute(select(func.min(col(AuditEvent.at))))).scalar()
        return at

    async def latest(self) -> AuditCheckpointRow | None:
        async with self.sessions() as s:
            q = (
                select(AuditCheckpointRow)
                .order_by(desc(col(AuditCheckpointRow.seq)), desc(col(AuditCheckpointRow.id)))
                .limit(1)
            )
            return (await s.execute(q)).scalars().first()

    async def add(self, cp: Checkpoint, signed_at: datetime) -> bool:
        """False when another replica already signed this head with this key."""
        try:
            async with self.sessions.begin() as s:
                s.add(
                    AuditCheckpointRow(
                        seq=cp.seq,
                        head_hash=cp.head_hash,
                        signed_at=signed_at,
                        key_id=cp.key_id,
                        signature=cp.signature,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def all(self) -> list[Checkpoint]:
        async with self.sessions() as s:
            rows = (await s.execute(select(AuditCheckpointRow).order_by(col(AuditCheckpointRow.seq)))).scalars().all()
        return [
            Checkpoint(r.seq, r.head_hash, format_at(r.signed_at.astimezone(UTC)), r.key_id, r.signature) for r in rows
        ]
