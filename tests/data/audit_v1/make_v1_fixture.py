"""Build the v1 audit fixture with the code at main c909bcb (before the v2 encoding existed)."""

import asyncio
import base64
import hashlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from bot.audit_cli import audit_export
from bot.checkpoints import maybe_checkpoint

from bot.settings import load_settings
from storage.db import make_engine, upgrade
from storage.repo import AuditNote, Store

OUT = Path(sys.argv[2])
SEED = base64.b64encode(hashlib.sha256(b"releasegate audit v1 fixture key (test only)").digest()).decode()
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
DETAILS = [
    {"i": 0, "note": "plain entry"},
    # Values the v1 encoder printed differently from ECMAScript (issue 11):
    {"big_float": 1e21 / 3, "tiny_float": 1e-5 / 3, "exact_int_beyond_2_53": 2**60 + 1},
    {"reason": "naïve café ☕ =1+1", "del": "\x7f", "ctl": "\x01\x1f\t\n", "x": 0.1, "n": 10**15},
    {"floats": [1e16, 2.5e-7, 123456789012345680000.0, -0.0, 5e-324, 1.7976931348623157e308]},
    {"keys": {"\u20ac": 1, "\r": 2, "\U0001f602": 3, "\ufb33": 4, "1": 5}},
    {"i": 5, "note": "after the edge cases"},
    {"i": 6, "note": "last"},
]


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "audit_v1.db"
    db.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{db}"
    engine = make_engine(url)
    await upgrade(engine)
    store = Store(engine)
    settings = load_settings(
        RELEASEGATE_DATABASE_URL=url, RELEASEGATE_AUDIT_SIGNING_KEY=SEED, RELEASEGATE_CHECKPOINT_EVERY="7"
    )
    for i, d in enumerate(DETAILS):
        await store.audit(AuditNote(f"U{i:09d}", "test.v1", "ok", d), T0 + timedelta(seconds=i))
    assert await maybe_checkpoint(store, settings, None, T0 + timedelta(minutes=1)) is not None
    await engine.dispose()
    assert await audit_export(settings, "jsonl", None, str(OUT / "audit_v1.jsonl")) == 0


asyncio.run(main())
