"""The decide flow with a fake Slack and no HTTP: approve, reject, stranger, four-eyes, double
click, an escalated backup, and a changed bundle. The database is the real one (SQLite and
PostgreSQL), because the compare-and-set it does is what makes a double click decide once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot.drill.samples import sample_policy, summer_hero
from bot.preview.bundle import fingerprint, load_bundle
from bot.release.flow import Lifecycle
from gates.phases import Phase, State
from gates.policy import parse_policy
from gates.result import GateResult, Status
from storage.models import Release
from storage.repo import AuditNote, StateChange, Store

REQUESTER, REVIEWER, BACKUP, SRE, STRANGER = "U0REQUESTR", "U0REVIEWER", "U0BACKUP01", "U0SRE00001", "U0STRANGER"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class FakeSlack:
    """Records what the flow tells Slack; answers like Slack would."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    outbox: None = None
    n: int = 0

    async def post(
        self, channel: str, text: str, blocks: Any = None, thread_ts: str | None = None, *, key: str | None = None
    ) -> str:
        self.n += 1
        self.calls.append(("post", (channel, text)))
        return f"1700000000.{self.n:06d}"

    async def update(self, channel: str, ts: str, text: str, blocks: Any = None) -> None:
        self.calls.append(("update", (channel, ts, text)))

    async def ephemeral(self, channel: str, user: str, text: str, blocks: Any = None) -> None:
        self.calls.append(("ephemeral", (channel, user, text)))

    async def dm(self, user: str, text: str, blocks: Any = None, *, secret: bool = False) -> tuple[str, str]:
        self.calls.append(("dm", (user, text)))
        return "D0", "1700000000.000001"

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str) -> None:
        self.calls.append(("upload", (channel, filename)))

    async def usergroup_members(self, group_id: str) -> list[str]:
        return self.groups.get(group_id, [])

    async def permalink(self, channel: str, ts: str, *, timeout: float = 1.0) -> str | None:
        return f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.calls.append(("open_view", (trigger_id,)))


@dataclass
class World:
    lc: Lifecycle
    slack: FakeSlack
    store: Store
    replies: dict[str, list[str]]

    def reply_to(self, user: str) -> Any:
        async def reply(text: str) -> None:
            self.replies.setdefault(user, []).append(text)

        return reply


@pytest.fixture
async def world(store: Store, tmp_path: Path) -> World:
    policy = parse_policy(
        sample_policy(
            reviewer=REVIEWER,
            backup=BACKUP,
            sre=SRE,
            sre_group="S0SREGROUP",
            product="U0PRODUCT1",
            product_backup="U0PRODVP01",
            canary_gates="{}",
            global_gates="{}",
        )
    )
    summer_hero(tmp_path)
    slack = FakeSlack()
    clock = iter(NOW + timedelta(seconds=i) for i in range(10_000))
    lc = Lifecycle(
        store=store,
        slack=slack,
        policy=policy,
        releases_dir=tmp_path,  # type: ignore[arg-type]
        clock=lambda: next(clock),
        artifacts_dir=tmp_path / "artifacts",
    )
    return World(lc, slack, store, {})


async def _awaiting_preview(w: World) -> int:
    """A release whose Preview gates passed: its approval request id."""
    loaded = load_bundle(w.lc.releases_dir, "summer-hero")
    fp = fingerprint(loaded.root, loaded.bundle)
    release, run = await w.store.create_release(
        name="summer-hero",
        title="t",
        channel_id="C0RELEASES",
        requested_by=REQUESTER,
        bundle_dir=str(loaded.root),
        bundle=loaded.bundle.to_dict(),
        policy=w.lc.policy.to_dict(),
        phase="preview",
        state="running",
        now=NOW,
        bundle_digest=fp.digest,
        bundle_manifest=fp.to_manifest(),
    )
    request = await w.store.record_gate_results(
        release.id or 0,
        run.id or 0,
        [GateResult(gate="image_budget", status=Status.PASS, summary="ok")],
        StateChange("preview", "running", "preview", "awaiting"),
        AuditNote("releasegate", "gates.evaluated", "pass", {}),
        NOW,
        run_outcome="passed",
        owners=[REVIEWER, BACKUP],
        channel_id="C0RELEASES",
    )
    assert request.recorded and request.request is not None and request.request.id is not None
    return request.request.id


async def _state(w: World) -> tuple[Phase, State]:
    r = await w.store.latest_release("summer-hero")
    assert r is not None
    return Phase(r.phase), State(r.state)


async def _finish(w: World) -> None:
    for t in list(w.lc.tasks):
        t.cancel()
    await asyncio.gather(*w.lc.tasks, return_exceptions=True)


async def test_the_owner_approves_and_canary_begins(world: World) -> None:
    rid = await _awaiting_preview(world)
    await world.lc.decide(rid, REVIEWER, "approve", None, world.reply_to(REVIEWER))
    assert await _state(world) == (Phase.CANARY, State.RUNNING)
    decisions = await world.store.decisions(1)
    assert [(d.phase, d.decision, d.by) for d in decisions] == [("preview", "approve", REVIEWER)]
    assert decisions[0].bundle_digest is not None
    assert REVIEWER not in world.replies
    await _finish(world)


async def test_the_owner_rejects_and_the_release_ends(world: World) -> None:
    rid = await _awaiting_preview(world)
    await world.lc.decide(rid, REVIEWER, "reject", "wrong crop", world.reply_to(REVIEWER))
    assert await _state(world) == (Phase.PREVIEW, State.REJECTED)


async def test_a_stranger_is_refused_and_recorded(world: World) -> None:
    rid = await _awaiting_preview(world)
    await world.lc.decide(rid, STRANGER, "approve", None, world.reply_to(STRANGER))
    assert await _state(world) == (Phase.PREVIEW, State.AWAITING)
    assert "Only the Preview owners" in world.replies[STRANGER][0]
    refused = [e for e in await world.store.audit_entries() if e["outcome"] == "refused"]
    assert [(e["actor"], e["detail"]["why"]) for e in refused] == [(STRANGER, "not an owner")]


async def test_the_requester_cannot_approve_their_own_release(world: World) -> None:
    rid = await _awaiting_preview(world)
    async with world.store.sessions.begin() as s:  # the requester is also a Preview owner here
        await s.execute(update(Release).values(requested_by=REVIEWER))
    await world.lc.decide(rid, REVIEWER, "approve", None, world.reply_to(REVIEWER))
    assert await _state(world) == (Phase.PREVIEW, State.AWAITING)
    assert "four-eyes" in world.replies[REVIEWER][0]


async def test_a_double_click_decides_once(world: World) -> None:
    rid = await _awaiting_preview(world)
    await asyncio.gather(
        world.lc.decide(rid, REVIEWER, "approve", None, world.reply_to("first")),
        world.lc.decide(rid, BACKUP, "approve", None, world.reply_to("second")),
    )
    assert len(await world.store.decisions(1)) == 1
    losers = world.replies.get("first", []) + world.replies.get("second", [])
    assert len(losers) == 1 and "already" in losers[0].lower(), losers
    await _finish(world)


async def test_an_escalated_backup_may_decide(world: World) -> None:
    rid = await _awaiting_preview(world)
    await world.lc.decide(rid, BACKUP, "approve", None, world.reply_to(BACKUP))
    assert await _state(world) == (Phase.CANARY, State.RUNNING)
    assert [d.by for d in await world.store.decisions(1)] == [BACKUP]
    await _finish(world)


async def test_a_changed_file_stops_the_approval(world: World) -> None:
    rid = await _awaiting_preview(world)
    f = world.lc.releases_dir / "summer-hero" / "candidate" / "promo-tile.png"
    f.write_bytes(f.read_bytes() + b"\0")
    await world.lc.decide(rid, REVIEWER, "approve", None, world.reply_to(REVIEWER))
    assert await _state(world) == (Phase.PREVIEW, State.PAUSED)
    assert world.replies[REVIEWER] == [
        "Not approved: 1 file differs from what Preview approved: re-run Preview. "
        "The release is paused; see its thread."
    ]
    assert await world.store.decisions(1) == []


async def test_a_failing_background_task_names_its_release_request_and_person(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> None:
        raise RuntimeError("disk full")

    world.lc.spawn(boom(), "decide:approve", release="summer-hero", request=12, actor=REVIEWER)
    await world.lc.drain(timeout=5)
    await asyncio.sleep(0)
    failed = [r for r in caplog.records if "background task" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].getMessage() == (
        f"background task decide:approve failed (release summer-hero, request 12, for {REVIEWER})"
    )
    assert (failed[0].release, failed[0].request) == ("summer-hero", 12)  # type: ignore[attr-defined]
