"""One INFO log line per release event, written only once the event's transaction committed.

Every state change appends an audit entry; the entry is the event. Logging it from the commit
hook (not where it is appended) means a rolled-back transaction never logs something that did not
happen, and no call site can forget to log.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("releasegate.events")
PENDING = "releasegate.pending_events"


def remember(session: Session, fields: dict[str, Any]) -> None:
    session.info.setdefault(PENDING, []).append(fields)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for f in session.info.pop(PENDING, []):
        where = f"{f['release']} attempt {f['attempt']} {f['phase']}" if f.get("release") else "(no release)"
        log.info("%s: %s %s by %s", where, f["action"], f["outcome"], f["actor"], extra=f)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)
