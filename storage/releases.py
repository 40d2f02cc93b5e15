"""Releases: creating one (bound to its bundle digest), reading them, and compare-and-set transitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import desc, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from gates.phases import TERMINAL_VALUES, Phase, State
from gates.result import GateResult
from storage.models import (
    BundleUpload,
    PhaseRun,
    Release,
)
from storage.store_core import (
    _KEEPS_REQUEST,
    AlreadyActive,
    AuditNote,
    Owed,
    StateChange,
    StoreCore,
)
from storage.uploads import STALE_UPLOAD, check_unchanged, current_version, lock, why_not_replaceable


class ReleaseStore(StoreCore):
    async def create_release(
        self,
        *,
        name: str,
        title: str,
        channel_id: str,
        requested_by: str,
        bundle_dir: str,
        bundle: dict[str, Any],
        policy: dict[str, Any],
        phase: str,
        state: str,
        now: datetime,
        retry_of: int | None = None,
        actor: str | None = None,
        bundle_digest: str | None = None,
        bundle_manifest: list[dict[str, Any]] | None = None,
        bundle_version: int | None = None,
    ) -> tuple[Release, PhaseRun]:
        """``bundle_version`` is what ``bundle_version()`` said before the files were hashed: the
        release is created only if no upload replaced them since (``BundleBusy`` otherwise)."""
        try:
            async with self.sessions.begin() as s:
                if bundle_version is not None:
                    await check_unchanged(s, name, bundle_version, now)
                last = (await s.execute(select(func.max(Release.attempt)).where(col(Release.name) == name))).scalar()
                release = Release(
                    name=name,
                    attempt=(last or 0) + 1,
                    title=title,
                    channel_id=channel_id,
                    requested_by=requested_by,
                    phase=Phase(phase),
                    state=State(state),
                    bundle_dir=bundle_dir,
                    bundle=bundle,
                    policy=policy,
                    created_at=now,
                    updated_at=now,
                    bundle_digest=bundle_digest,
                    bundle_manifest=bundle_manifest or [],
                )
                s.add(release)
                await s.flush()
                run = PhaseRun(release_id=release.id or 0, phase=Phase(phase), started_at=now)
                s.add(run)
                await s.flush()
                await self._append_audit(
                    s,
                    AuditNote(
                        actor or requested_by,
                        "release.retry_canary" if retry_of else "release.start",
                        "ok",
                        {
                            "attempt": release.attempt,
                            "title": title,
                            "images": len(bundle["images"]),
                            "channel": channel_id,
                            "retry_of": retry_of,
                            "requested_by": requested_by,
                            "bundle_digest": bundle_digest,
                            "files": len(bundle_manifest or []),
                        },
                    ),
                    now,
                    release,
                )
                return release, run
        except IntegrityError:
            existing = await self.active_release(name)
            if existing is None:
                raise
            raise AlreadyActive(existing) from None

    async def bundle_version(self, name: str) -> int:
        async with self.sessions() as s:
            return await current_version(s, name)

    async def begin_upload(self, name: str, by: str, now: datetime) -> str | None:
        """Claim ``name`` for an upload about to replace its files; the reason when refused (audited)."""
        async with self.sessions.begin() as s:
            await lock(s, name)
            why = await why_not_replaceable(s, name)
            row = await s.get(BundleUpload, name)
            if why is None and row is not None and row.state == "writing" and now - row.updated_at < STALE_UPLOAD:
                why = f"another upload of {name} is being written; try again when it has finished"
            if why is not None:
                await self._append_audit(
                    s, AuditNote(by, "bundle.upload", "refused", {"name": name, "why": why}), now, None
                )
                return why
            if row is None:
                s.add(BundleUpload(name=name, state="writing", version=0, by=by, updated_at=now))
            else:
                row.state, row.by, row.updated_at = "writing", by, now
                s.add(row)
            return None

    async def finish_upload(self, name: str, by: str, now: datetime, detail: Mapping[str, Any] | None) -> None:
        """The files are in place (``detail`` says what: digest, files, bytes), or the upload gave up (None)."""
        async with self.sessions.begin() as s:
            await lock(s, name)
            row = await s.get(BundleUpload, name)
            if row is None:
                return
            row.state, row.updated_at = "ready", now
            if detail is not None:
                row.version += 1
                row.digest = str(detail.get("bundle_digest"))
                await self._append_audit(s, AuditNote(by, "bundle.upload", "ok", {"name": name, **detail}), now, None)
            s.add(row)

    async def active_release(self, name: str) -> Release | None:
        async with self.sessions() as s:
            q = select(Release).where(col(Release.name) == name, col(Release.state).not_in(TERMINAL_VALUES))
            return (await s.execute(q)).scalars().first()

    async def latest_release(self, name: str) -> Release | None:
        async with self.sessions() as s:
            q = select(Release).where(col(Release.name) == name).order_by(desc(col(Release.attempt))).limit(1)
            return (await s.execute(q)).scalars().first()

    async def release(self, release_id: int) -> Release | None:
        async with self.sessions() as s:
            return await s.get(Release, release_id)

    async def list_releases(self, limit: int = 20) -> list[Release]:
        async with self.sessions() as s:
            q = select(Release).order_by(desc(col(Release.updated_at)), desc(col(Release.id))).limit(limit)
            return list((await s.execute(q)).scalars().all())

    async def set_root_ts(self, release_id: int, ts: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(Release).where(col(Release.id) == release_id).values(root_ts=ts))

    async def set_run_results(
        self, run_id: int, *, latest: Sequence[GateResult] | None = None, brand: Sequence[GateResult] | None = None
    ) -> None:
        """Keep a running phase's latest evaluation (and its brand results) with the run."""
        values: dict[str, Any] = {}
        if latest is not None:
            values["latest_results"] = [r.to_dict() for r in latest]
        if brand is not None:
            values["brand_results"] = [r.to_dict() for r in brand]
        if values:
            async with self.sessions.begin() as s:
                await s.execute(update(PhaseRun).where(col(PhaseRun.id) == run_id).values(**values))

    async def set_status_message(self, run_id: int, ts: str) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(PhaseRun).where(col(PhaseRun.id) == run_id).values(status_message_ts=ts))

    async def transition(
        self,
        release_id: int,
        change: StateChange,
        note: AuditNote,
        now: datetime,
        *,
        finish_run_as: str | None = None,
        start_run: bool = False,
        traffic_percent: float | None = None,
        owed: Sequence[Owed] = (),
        sla_due: datetime | None = None,
    ) -> tuple[Release, PhaseRun | None] | None:
        """Compare-and-set the release's state; None when someone else changed it first.

        ``owed`` is what the change owes Slack, enqueued in the same transaction. ``sla_due``
        (a resume) restarts the open approval request's SLA clock in it too, so a crash right after
        the resume cannot leave a request that never escalates."""
        async with self.sessions.begin() as s:
            if not await self._cas_release(s, release_id, change, now):
                return None
            if traffic_percent is not None:
                await s.execute(
                    update(Release).where(col(Release.id) == release_id).values(traffic_percent=traffic_percent)
                )
            if finish_run_as:
                await self._finish_current_run(s, release_id, finish_run_as, now)
            run = None
            if start_run:
                run = PhaseRun(release_id=release_id, phase=Phase(change.to_phase), started_at=now)
                s.add(run)
                await s.flush()
            if change.to_state not in _KEEPS_REQUEST:
                await self._supersede_requests(s, release_id)
            release = await self._record(s, release_id, note, now, owed)
            if sla_due is not None:
                request = await self._open_request(s, release_id)
                if request is not None and request.id is not None:
                    await self._restart_sla(s, request.id, sla_due, now)
            return release, run
