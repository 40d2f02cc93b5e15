"""`releasegate demo`: a whole release against the local Slack stand-in, no credentials needed.

Preview is approved, the first Canary regresses LCP and rolls back by itself, the retried
Canary passes, Global ramps to 100% and is approved. Everything Slack would show is written
to a transcript, beside the uploaded charts and thumbnails and the audit export.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from bot.artifacts.checkpoints import maybe_checkpoint
from bot.cli.audit import audit_export, verify_export_file
from bot.demo.sandbox import BOT_TOKEN, Sandbox, wait_until
from bot.demo.standin import SlackStandIn
from bot.drill.samples import encode, photo, sample_policy, summer_hero
from bot.drill.traffic_sim import rum_batch
from bot.http.inspector.auth import make_login_link
from bot.settings import Settings
from bot.traffic.flagd import FlagdFile
from gates.policy import parse_policy
from storage.checkpoints import load_private_key
from storage.keys import KeyStore

PEOPLE = {
    "U0PRIYA001": "Priya (campaign manager, requester)",
    "U0DANA0001": "Dana (content reviewer)",
    "U0LEE00001": "Lee (backup reviewer)",
    "U0SAM00001": "Sam (SRE on call)",
    "U0ALEX0001": "Alex (SRE)",
    "U0JO000001": "Jo (product owner)",
    "U0KIM00001": "Kim (VP product)",
}
REQUESTER, REVIEWER, BACKUP, SRE, SRE2, PRODUCT, PRODUCT_VP = PEOPLE
SRE_GROUP = "S0SREGROUP"
RELEASE = "summer-hero"
AUDIT_CHANNEL = "C0AUDITLOG"


def _say(text: str) -> None:
    print(text, flush=True)


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The bot's own log goes to a file beside the transcript; the terminal shows the story and
    anything that went wrong (warnings and errors). Put back as it was afterwards."""
    root = logging.getLogger()
    root_level = root.level
    root.setLevel(min(root_level, logging.INFO))
    terminals = [h for h in root.handlers if type(h) is logging.StreamHandler]
    levels = [h.level for h in terminals]
    for handler in terminals:
        handler.setLevel(logging.WARNING)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    try:
        yield
    finally:
        root.removeHandler(to_file)
        to_file.close()
        root.setLevel(root_level)
        for handler, level in zip(terminals, levels, strict=True):
            handler.setLevel(level)


async def run_demo(out: str | None) -> int:
    started = time.monotonic()
    out_dir = Path(out or f"releasegate-demo-{datetime.now():%Y%m%d-%H%M%S}").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with _log_to(out_dir / "demo.log"):
        return await _run_demo(out_dir, started)


async def _run_demo(out_dir: Path, started: float) -> int:
    db_url = os.environ.get("RELEASEGATE_DATABASE_URL")
    if not db_url:
        # The demo's own scratch database: a rerun into the same folder starts from nothing.
        for leftover in out_dir.glob("demo.db*"):
            leftover.unlink()
        db_url = f"sqlite+aiosqlite:///{out_dir / 'demo.db'}"
    releases = out_dir / "releases"
    summer_hero(releases, RELEASE)
    flags = out_dir / "flags" / "releasegate.flagd.json"
    policy_text = sample_policy(
        reviewer=REVIEWER,
        backup=BACKUP,
        sre=SRE,
        sre_group=SRE_GROUP,
        product=PRODUCT,
        product_backup=PRODUCT_VP,
        sla="3s",
        every="1s",
        observe="2s",
        min_samples="300",
    )
    policy = parse_policy(
        policy_text + f"traffic: {{engines: [flagd], flagd: {{path: '{flags}'}}}}\n", source="demo policy"
    )
    # A throwaway signing key: the demo signs audit checkpoints like a production bot would.
    signing_key = base64.b64encode(
        Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ).decode()

    standin = SlackStandIn(bot_tokens=[BOT_TOKEN])
    await standin.start()
    for uid, name in PEOPLE.items():
        standin.add_user(uid, name.split(" ")[0].lower(), name)
    standin.add_usergroup(SRE_GROUP, [SRE, SRE2])
    try:
        async with aiohttp.ClientSession() as session:
            sb = Sandbox(
                standin=standin,
                db_url=db_url,
                releases=releases,
                policy=policy,
                session=session,
                extra_settings={
                    "RELEASEGATE_ARTIFACTS_DIR": str(out_dir / "artifacts"),
                    "RELEASEGATE_TICK_SECONDS": "0.5",
                    "RELEASEGATE_AUDIT_SIGNING_KEY": signing_key,
                    "RELEASEGATE_AUDIT_CHANNEL": AUDIT_CHANNEL,
                    "RELEASEGATE_CHECKPOINT_EVERY": "5",
                    "RELEASEGATE_SESSION_SECRET": "demo-" + uuid.uuid4().hex,
                    "RELEASEGATE_PUBLIC_URL": "http://127.0.0.1:3000",
                },
            )
            await sb.boot()
            assert sb.bot is not None
            settings = sb.bot.settings
            try:
                await _script(sb, flags)
                checkpoint = await maybe_checkpoint(sb.bot.store, settings, sb.bot.slack, datetime.now(UTC))
                if checkpoint is not None:
                    _say(f"   Audit checkpoint signed at entry {checkpoint.seq}; digest posted to the audit channel")
                link = make_login_link(settings, PRODUCT, 600)
                _say(f"   `/release inspector` DMs a signed sign-in link like {link[:64]}…")
            finally:
                await sb.shutdown()
    finally:
        await standin.stop()
    return await _write_outputs(standin, settings, out_dir, started)


async def _script(sb: Sandbox, flags: Path) -> None:
    assert sb.bot is not None
    # The RUM collector gets a key that can post metrics and nothing else (`releasegate keys create`).
    created = await KeyStore(sb.bot.store).create(
        name="rum-collector",
        scopes=frozenset({"metrics:write"}),
        origins=(),
        expires_at=None,
        actor="cli:demo-admin",
        now=datetime.now(UTC),
    )
    key = created.token
    _say("0. An admin runs `releasegate keys create --scope metrics:write --name rum-collector`: the RUM")
    _say(f"   collector's key (rgk_{created.row.id}_…, stored hashed) may post metrics and nothing else")

    _say(f"1. {PEOPLE[REQUESTER]} types `/release start {RELEASE}` in #releases")
    await sb.start(RELEASE, REQUESTER)
    preview = sb.approval_message(RELEASE, "Preview")
    _say("   Preview gates ran: " + preview.text)
    started = await sb.bot.store.latest_release(RELEASE) if sb.bot else None
    if started is not None and started.bundle_digest:
        _say(
            f"   Bundle digest {started.bundle_digest[:16]}… covers release.yml and "
            f"{len(started.bundle_manifest) - 1} image files: every approval is bound to these bytes"
        )

    _say(f"2. {PEOPLE[REVIEWER]} is in a meeting: after the 3s demo SLA the backup is DMed")
    await wait_until(lambda: bool(sb.standin.dms(BACKUP)), timeout=20)
    dm = sb.standin.dms(BACKUP)[0]
    _say(f"   DM to {PEOPLE[BACKUP]}: " + dm.text)
    _say(f"   {PEOPLE[BACKUP]} approves Preview from the DM; Canary starts at 5% of traffic")
    await sb.press(BACKUP, dm, "approve", settle=False)
    accepted = await _collect(sb, key, lcp_shift=1.35, seed=10)
    _say(f"   RUM collector posts {accepted} samples over the window: the new hero is 35% slower")
    await sb.settle(timeout=60)
    assert "rolled back" in sb.thread_text(RELEASE), sb.thread_text(RELEASE)
    _say("   Canary failed lcp_p75 and rolled back by itself (traffic 0%), saying why in the thread")
    status, body = await sb.api(f"/api/v1/releases/{RELEASE}", key)
    _say(f"   The collector's key asking for the release itself gets {status}: {body.get('error')}")
    _say(f"   flagd file {flags.name}: {RELEASE} candidate share now {FlagdFile(flags).percent(RELEASE):g}%")

    hero = sb.releases / RELEASE / "candidate" / "hero-desktop.webp"
    approved = hero.read_bytes()
    _say(f"3. {PEOPLE[SRE]} first re-encodes the hero on disk and presses Retry Canary")
    hero.write_bytes(encode(photo(640, 360, seed=99), "WEBP", 80))
    await sb.press(SRE, sb.last_with(RELEASE, "retry_canary"), "retry_canary")
    refusal = sb.standin.ephemerals(user=SRE)[-1].text if sb.standin.ephemerals(user=SRE) else "(no answer)"
    _say(f"   Refused, nothing moves: {refusal.replace('*', '')}")
    hero.write_bytes(approved)
    _say(f"   {PEOPLE[SRE]} puts the approved bytes back, fixes the CDN's resize setting instead, and retries")
    await sb.press(SRE, sb.last_with(RELEASE, "retry_canary"), "retry_canary", settle=False)
    accepted = await _collect(sb, key, lcp_shift=1.0, seed=20)
    _say(f"   RUM collector posts {accepted} healthy samples over the window")
    await sb.settle(timeout=60)
    canary = sb.approval_message(RELEASE, "Canary")
    _say("   Canary gates: " + canary.text)

    _say(f"4. {PEOPLE[SRE2]} (SRE group) approves Canary; Global ramps 25% → 50% → 100%")
    await sb.press(SRE2, canary, "approve", settle=False)
    await _collect(sb, key, lcp_shift=1.0, seed=30, regions=("eu", "us", "apac"))
    await sb.settle(timeout=60)
    glob = sb.approval_message(RELEASE, "Global")
    _say("   Global gates: " + glob.text)

    _say(f"5. {PEOPLE[PRODUCT]} approves Global with a comment")
    await sb.decide_in_modal(PRODUCT, glob, "approve_with_comment", "Numbers hold in every region. Ship it.")
    _say("   " + sb.root(RELEASE).text + f"; flagd candidate share {FlagdFile(flags).percent(RELEASE):g}%")
    _say("   The thread gets the release report (Markdown summary + self-contained HTML)")


async def _collect(
    sb: Sandbox, key: str, *, lcp_shift: float, seed: int, batches: int = 4, regions: tuple[str, ...] = ("eu", "us")
) -> int:
    """Post RUM batches spread over the observation window, as a collector flushing every few seconds."""
    accepted = 0
    for i in range(batches):
        await asyncio.sleep(0.35)
        status, body = await sb.post_metrics(
            rum_batch(
                RELEASE, n_per_arm=400, lcp_shift=lcp_shift, seed=seed + i, regions=regions, requests_per_region=2000
            ),
            key,
        )
        if status != 202:
            raise RuntimeError(f"metrics API answered {status}: {body}")
        accepted += int(body.get("accepted", 0))
    return accepted


async def _write_outputs(standin: SlackStandIn, settings: Settings, out_dir: Path, started: float) -> int:
    (out_dir / "transcript.txt").write_text(standin.transcript(), encoding="utf-8")
    files_dir = out_dir / "slack-files"
    files_dir.mkdir(exist_ok=True)
    for f in standin.files.values():
        (files_dir / Path(f.name).name).write_bytes(f.content or b"")
    # The same export and verification an auditor would run, with the CLI's own code.
    with contextlib.redirect_stdout(io.StringIO()):
        await audit_export(settings, "jsonl", None, str(out_dir / "audit.jsonl"))
        await audit_export(settings, "csv", None, str(out_dir / "audit.csv"))
    keys = [load_private_key(settings.audit_signing_key or "").public_key()]
    with contextlib.redirect_stdout(io.StringIO()) as verified:
        intact = verify_export_file(out_dir / "audit.jsonl", [], keys) == 0
    entries = (out_dir / "audit.jsonl").read_text(encoding="utf-8").count("\n")
    rejected = len(standin.rejected_calls)
    _say("")
    _say(f"Done in {time.monotonic() - started:.1f}s. Everything is in {out_dir}:")
    _say(f"  transcript.txt   what Slack showed ({len(standin.calls)} API calls, {rejected} rejected)")
    _say(f"  slack-files/     {len(standin.files)} uploaded charts, thumbnails and the release report")
    _say(
        f"  audit.jsonl/csv  {entries} audit entries + manifest.json; offline verification: "
        f"{'INTACT' if intact else 'BROKEN'} ({verified.getvalue().strip()})"
    )
    _say("  flags/           the flagd flag definitions the traffic engine wrote")
    _say("  demo.log         the bot's own log (HTTP requests, timers, outbox)")
    _say(f"  verify yourself: RELEASEGATE_DATABASE_URL={settings.database_url} releasegate audit verify")
    if not intact or rejected:
        problem = "audit chain broken" if not intact else f"{rejected} Slack calls rejected"
        print(f"releasegate demo: problem: {problem}", file=sys.stderr)
        return 1
    return 0
