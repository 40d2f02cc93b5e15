"""A release is bound to its bytes: an approval covers exactly the files that ship.

Over real HTTP: a bundle swapped after approval cannot ride a Retry Canary, an upload cannot
replace the files of a release that can still move (nor race a `/release start`), a file changed
on disk while a decision is pending stops the release instead of shipping, and every upload is
an audit entry naming the key that made it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from bot.drill.samples import encode, photo
from bot.preview.bundle import fingerprint, load_bundle
from storage.models import Decision
from tests.e2e.harness import API_TOKEN, REQUESTER, REVIEWER, SRE, Env, wait_until

NEW_PNG = encode(photo(160, 90, 11), "PNG")
MANIFEST = yaml.safe_dump(
    {
        "title": "Swapped by CI",
        "images": [{"id": "hero-desktop", "candidate": "candidate/hero-desktop.png", "alt": "A different picture"}],
    }
).encode()


def _multipart(files: dict[str, bytes], boundary: str = "rgboundary1234") -> tuple[bytes, str]:
    out = b""
    for rel, data in files.items():
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{rel}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


async def _upload(env: Env, name: str, files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
    body, ctype = _multipart(files)
    async with env.session.post(
        f"{env.base}/api/v1/releases?name={name}",
        data=body,
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": ctype},
    ) as r:
        return r.status, await r.json()


def _disk_digest(env: Env, name: str) -> str:
    loaded = load_bundle(env.releases, name)
    return fingerprint(loaded.root, loaded.bundle).digest


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


async def _to_canary_awaiting(env: Env, name: str) -> None:
    await env.start(name)
    await env.press(REVIEWER, env.approval_message(name, "Preview"), "approve")
    await wait_until(lambda: "Canary gates:" in env.thread_text(name), timeout=20)
    await env.settle()


async def _actions(env: Env) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["outcome"]) for e in await env.bot.store.audit_entries()]


async def test_a_swap_after_approval_cannot_ride_a_canary_retry(env: Env) -> None:
    await _to_canary_awaiting(env, "summer-hero")
    release = await env.bot.store.latest_release("summer-hero")
    assert release is not None and release.bundle_digest == _disk_digest(env, "summer-hero")
    start = next(e for e in await env.bot.store.audit_entries() if e["action"] == "release.start")
    assert start["detail"]["bundle_digest"] == release.bundle_digest
    async with env.bot.store.sessions() as s:
        from sqlmodel import select

        decision = (await s.execute(select(Decision))).scalars().one()
    assert decision.bundle_digest == release.bundle_digest  # the Preview approval covers these bytes
    assert release.bundle_digest[:12] in env.thread_text("summer-hero")  # shown to people, not only stored

    ans = await env.u.slash(SRE, "rollback summer-hero edge errors")
    assert ans.status == 200
    await env.settle()
    # An upload cannot replace the files of a Canary that can still be retried.
    status, body = await _upload(env, "summer-hero", {"release.yml": MANIFEST, "candidate/hero-desktop.png": NEW_PNG})
    assert status == 409 and "can still be retried" in body["error"], body
    assert _disk_digest(env, "summer-hero") == release.bundle_digest
    assert ("key:admin", "bundle.upload", "refused") in await _actions(env)

    # Someone swaps the bytes on disk anyway: the retry is refused, says what changed, nothing moves.
    _flip_a_byte(env.releases / "summer-hero/candidate/hero-mobile.webp")
    await env.press(SRE, env.last_with("summer-hero", "retry_canary"), "retry_canary")
    said = env.ephemeral_text(SRE)
    assert "1 file differs from what Preview approved: re-run Preview" in said, said
    assert "candidate/hero-mobile.webp changed" in env.thread_text("summer-hero")
    latest = await env.bot.store.latest_release("summer-hero")
    assert latest is not None and latest.attempt == 1 and latest.state == "rolled_back"
    _, flags = await env.api("/api/v1/flags/summer-hero")
    assert flags["percent"] == 0
    refused = [e for e in await env.bot.store.audit_entries() if e["action"] == "release.retry_canary"]
    assert refused[-1]["actor"] == SRE and refused[-1]["outcome"] == "refused"
    assert refused[-1]["detail"]["approved_digest"] == release.bundle_digest

    # With the approved bytes back, the retry runs, and its entry names who pressed the button.
    _flip_a_byte(env.releases / "summer-hero/candidate/hero-mobile.webp")
    await env.press(SRE, env.last_with("summer-hero", "retry_canary"), "retry_canary")
    latest = await env.bot.store.latest_release("summer-hero")
    assert latest is not None and latest.attempt == 2 and latest.bundle_digest == release.bundle_digest
    assert (SRE, "release.retry_canary", "ok") in await _actions(env)
    assert (REQUESTER, "release.retry_canary", "ok") not in await _actions(env)
    # The rollback's move of traffic to 0 % is an entry of its own, by whoever rolled back.
    assert (SRE, "traffic.rollback", "ok") in await _actions(env)
    env.standin.assert_no_rejections()


async def test_an_upload_racing_a_start_loses_cleanly(env: Env) -> None:
    before = _disk_digest(env, "summer-hero")
    body, ctype = _multipart({"release.yml": MANIFEST, "candidate/hero-desktop.png": NEW_PNG})
    url = urlparse(env.base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        f"POST /api/v1/releases?name=summer-hero HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {API_TOKEN}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    writer.write(head + body[:200])  # the body is still streaming ...
    await writer.drain()
    await asyncio.sleep(0.3)
    await env.start("summer-hero")  # ... when the release starts
    assert "Preview gates:" in env.thread_text("summer-hero")
    writer.write(body[200:])
    await writer.drain()
    answer = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    assert answer.startswith("HTTP/1.1 409"), answer
    assert "summer-hero is preview awaiting" in answer
    # The reviewer judges the files that are on disk, and those are the ones the release covers.
    release = await env.bot.store.latest_release("summer-hero")
    assert release is not None and release.bundle_digest == before == _disk_digest(env, "summer-hero")


async def test_a_start_while_an_upload_is_being_written_is_refused(env: Env) -> None:
    refused = await env.bot.store.begin_upload("summer-hero", "key:ci", datetime.now(UTC))
    assert refused is None
    await env.start("summer-hero")
    assert "an upload of summer-hero is being written" in env.ephemeral_text(REQUESTER)
    assert await env.bot.store.latest_release("summer-hero") is None
    await env.bot.store.finish_upload("summer-hero", "key:ci", datetime.now(UTC), None)
    await env.start("summer-hero")
    assert await env.bot.store.latest_release("summer-hero") is not None


async def test_a_file_changed_while_awaiting_approval_stops_the_release(env: Env) -> None:
    await env.start("summer-hero")
    _flip_a_byte(env.releases / "summer-hero/candidate/promo-tile.png")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    assert "Not approved: 1 file differs from what Preview approved" in env.ephemeral_text(REVIEWER)
    release = await env.bot.store.latest_release("summer-hero")
    assert release is not None and release.state == "paused" and release.phase == "preview"
    assert release.traffic_percent == 0
    text = env.thread_text("summer-hero")
    assert "stopped" in text and "candidate/promo-tile.png changed" in text
    mismatch = [e for e in await env.bot.store.audit_entries() if e["action"] == "bundle.mismatch"]
    assert len(mismatch) == 1 and mismatch[0]["detail"]["found_digest"] == _disk_digest(env, "summer-hero")
    assert not [
        e
        for e in await env.bot.store.audit_entries()
        if e["action"] == "decision.approve" and e["outcome"] == "approve"
    ]


async def test_every_upload_is_an_audit_entry_with_its_digest(env: Env) -> None:
    status, body = await _upload(env, "ci-new", {"release.yml": MANIFEST, "candidate/hero-desktop.png": NEW_PNG})
    assert status == 201, body
    assert body["bundle_digest"] == _disk_digest(env, "ci-new")
    entry = [e for e in await env.bot.store.audit_entries() if e["action"] == "bundle.upload"][-1]
    assert entry["actor"] == "key:admin" and entry["outcome"] == "ok"
    assert entry["detail"] == {
        "name": "ci-new",
        "bundle_digest": body["bundle_digest"],
        "files": 2,
        "bytes": len(MANIFEST) + len(NEW_PNG),
        "images": 1,
    }
    # A finished release of that name can be replaced; the replacement is a new version.
    status, body2 = await _upload(env, "ci-new", {"release.yml": MANIFEST, "candidate/hero-desktop.png": NEW_PNG[:-1]})
    assert status == 201 and body2["bundle_digest"] != body["bundle_digest"]
    assert await env.bot.store.bundle_version("ci-new") == 2


async def test_an_upload_is_audited_under_the_key_that_made_it(env: Env) -> None:
    from storage.keys import KeyStore

    created = await KeyStore(env.bot.store).create(
        name="ci-pipeline",
        scopes=frozenset({"bundles:write"}),
        origins=(),
        expires_at=None,
        actor="cli:test",
        now=datetime.now(UTC),
    )
    body, ctype = _multipart({"release.yml": MANIFEST, "candidate/hero-desktop.png": NEW_PNG})
    async with env.session.post(
        f"{env.base}/api/v1/releases?name=ci-keyed",
        data=body,
        headers={"Authorization": f"Bearer {created.token}", "Content-Type": ctype},
    ) as r:
        assert r.status == 201, await r.text()
    entry = [e for e in await env.bot.store.audit_entries() if e["action"] == "bundle.upload"][-1]
    assert entry["actor"] == "key:ci-pipeline"
