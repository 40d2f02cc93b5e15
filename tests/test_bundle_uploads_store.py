"""Uploads and starts serialise on the release name in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.repo import Store
from storage.uploads import BundleBusy

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BUNDLE = {"title": "t", "images": [{"id": "a", "candidate": "a.png"}]}


async def _create(store: Store, version: int, now: datetime = NOW) -> None:
    await store.create_release(
        name="promo",
        title="t",
        channel_id="C1",
        requested_by="U1",
        bundle_dir="/x",
        bundle=BUNDLE,
        policy={},
        phase="preview",
        state="running",
        now=now,
        bundle_digest="d" * 64,
        bundle_manifest=[],
        bundle_version=version,
    )


async def test_a_start_that_hashed_before_an_upload_replaced_the_files_is_refused(store: Store) -> None:
    seen = await store.bundle_version("promo")
    assert seen == 0
    assert await store.begin_upload("promo", "key:ci", NOW) is None
    with pytest.raises(BundleBusy, match="being written"):
        await _create(store, seen)
    await store.finish_upload("promo", "key:ci", NOW, {"bundle_digest": "e" * 64, "files": 2, "bytes": 10})
    with pytest.raises(BundleBusy, match="replaced while it was being checked"):
        await _create(store, seen)
    await _create(store, await store.bundle_version("promo"))  # a fresh look at the files wins
    assert await store.begin_upload("promo", "key:ci", NOW) == (
        "promo is preview running: its bundle cannot change until it ends (completed, rejected or rolled back)"
    )
    actions = [(e["action"], e["outcome"]) for e in await store.audit_entries()]
    assert actions == [("bundle.upload", "ok"), ("release.start", "ok"), ("bundle.upload", "refused")]


async def test_an_upload_that_died_mid_write_stops_blocking_after_a_while(store: Store) -> None:
    assert await store.begin_upload("promo", "key:ci", NOW) is None
    assert "another upload" in (await store.begin_upload("promo", "key:other", NOW) or "")
    later = NOW + timedelta(minutes=11)
    await _create(store, 0, now=later)
