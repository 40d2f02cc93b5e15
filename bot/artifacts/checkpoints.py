"""Writing signed audit checkpoints, and telling the audit channel about them.

The lead calls :func:`maybe_checkpoint` from the timer loop and after appends; it is cheap when
there is nothing to do (two indexed single-row reads) and safe to call from several replicas
(the (seq, key) unique constraint keeps one checkpoint per head).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Protocol

from bot.settings import Settings
from storage.checkpoints import Checkpoint, CheckpointStore, load_private_key, public_key_b64, sign
from storage.repo import Store

log = logging.getLogger(__name__)


class Poster(Protocol):
    async def post(
        self, channel: str, text: str, blocks: list[dict[str, object]] | None = None, thread_ts: str | None = None
    ) -> str: ...


def due(
    head_seq: int,
    last_seq: int,
    last_at: datetime | None,
    now: datetime,
    every: int,
    minutes: float,
    first_entry_at: datetime | None,
) -> bool:
    """A checkpoint is due after ``every`` new entries, or when new entries are ``minutes`` old unsigned."""
    if head_seq <= last_seq:
        return False
    if head_seq - last_seq >= every:
        return True
    since = last_at if last_at is not None else first_entry_at
    return since is not None and now - since >= timedelta(minutes=minutes)


def digest_text(cp: Checkpoint, public_key: str) -> str:
    """What the audit channel gets: readable, plus the exact JSON for `audit verify --checkpoint`."""
    return (
        f"🔏 Audit checkpoint: entries 1–{cp.seq}, head `{cp.head_hash}`, digest `{cp.digest}`, "
        f"key `{cp.key_id}` (public key `{public_key}`).\n"
        f"```{json.dumps(cp.to_dict(), sort_keys=True)}```"
    )


async def maybe_checkpoint(store: Store, settings: Settings, slack: Poster | None, now: datetime) -> Checkpoint | None:
    """Sign the current head if a checkpoint is due; returns the new checkpoint or None."""
    if not settings.audit_signing_key:
        return None
    cps = CheckpointStore(store.engine)
    head = await cps.head()
    if head is None:
        return None
    last = await cps.latest()
    first_at = await cps.first_entry_at() if last is None else None
    if not due(
        head.seq,
        last.seq if last else 0,
        last.signed_at if last else None,
        now,
        settings.checkpoint_every,
        settings.checkpoint_minutes,
        first_at,
    ):
        return None
    key = load_private_key(settings.audit_signing_key)
    cp = sign(key, head.seq, head.hash, now)
    if not await cps.add(cp, now):
        return None
    log.info("audit checkpoint at seq %d, head %s, digest %s", cp.seq, cp.head_hash, cp.digest)
    if slack is not None and settings.audit_channel:
        try:
            await slack.post(settings.audit_channel, digest_text(cp, public_key_b64(key.public_key())))
        except Exception:
            # The signed row is in the database already; the next checkpoint's post carries on.
            log.exception("posting audit checkpoint %d to %s failed", cp.seq, settings.audit_channel)
    return cp
