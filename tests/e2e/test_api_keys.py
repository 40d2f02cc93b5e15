"""Every API route × every key scope over real HTTP: a key opens only what its scopes name.

Also the admin token (every route), and keys that are unknown, revoked or expired (401 saying which).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import text

from bot.drill.samples import encode, photo
from gates.access import SCOPES
from storage.keys import KeyStore, hash_key
from tests.e2e.harness import API_TOKEN, Env

pytestmark = pytest.mark.slow

PNG = encode(photo(64, 48, 2), "PNG")
MANIFEST = yaml.safe_dump(
    {"title": "Uploaded by CI", "images": [{"id": "tile", "candidate": "candidate/tile.png", "alt": "A hill at dawn"}]}
).encode()
SAMPLE = {
    "name": "LCP",
    "value": 1800,
    "id": "v1-x",
    "rating": "good",
    "delta": 1800,
    "navigationType": "navigate",
    "release": "summer-hero",
    "cohort": "canary",
    "region": "eu",
    "page": "/summer",
}

# route → (the scope it needs, the status a caller with that scope gets)
ROUTES: dict[str, tuple[str, int]] = {
    "POST /api/v1/metrics": ("metrics:write", 202),
    "POST /api/v1/releases": ("bundles:write", 201),
    "GET /api/v1/releases/summer-hero": ("releases:read", 200),
    "GET /api/v1/flags/summer-hero": ("flags:read", 200),
    "GET /api/v1/openapi-not-yet": ("admin", 404),  # not in the scope table: admin only
}


async def call(env: Env, route: str, key: str | None, n: int = 0, *, header: str = "Authorization") -> tuple[int, Any]:
    method, path = route.split(" ", 1)
    headers = {} if key is None else ({header: f"Bearer {key}"} if header == "Authorization" else {header: key})
    kw: dict[str, Any] = {}
    if path == "/api/v1/metrics":
        kw["json"] = [{**SAMPLE, "id": f"v1-{n}"}]
    if path == "/api/v1/releases":
        path += f"?name=ci-upload-{n}"
        form = aiohttp.FormData()
        form.add_field("f", MANIFEST, filename="release.yml")
        form.add_field("f", PNG, filename="candidate/tile.png")
        kw["data"] = form
    async with env.session.request(method, env.base + path, headers=headers, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        return r.status, body


async def new_key(
    env: Env, *scopes: str, name: str, expires_in: timedelta | None = None, origins: tuple[str, ...] = ()
) -> str:
    assert env.bot is not None
    now = env.clock()
    created = await KeyStore(env.bot.store).create(
        name=name,
        scopes=frozenset(scopes),
        origins=origins,
        expires_at=now + expires_in if expires_in is not None else None,
        actor="test",
        now=now,
    )
    return created.token


async def test_every_route_checks_its_scope(env: Env) -> None:
    await env.start("summer-hero")
    keys = {
        scope: await new_key(env, scope, name=scope.replace(":", "-"), origins=("https://shop.example.com",))
        for scope in SCOPES
    }
    n = 0
    for route, (needed, ok_status) in ROUTES.items():
        for scope, key in keys.items():
            n += 1
            status, body = await call(env, route, key, n)
            if scope == needed:
                assert status == ok_status, (route, scope, body)
            else:
                assert status == 403, (route, scope, body)
                assert body["error"].startswith(f"this key lacks scope {needed}"), (route, scope, body)
        n += 1
        status, body = await call(env, route, API_TOKEN, n)
        assert status == ok_status, (route, "admin", body)
        for bad in (None, "", "wrong-token", "rgk_999_nope", API_TOKEN + "x"):
            status, body = await call(env, route, bad, n)
            assert status == 401, (route, bad, body)
    # Refused calls changed nothing: only the uploads and samples of the callers holding the scope landed.
    assert len([p for p in env.releases.iterdir() if p.name.startswith("ci-upload-")]) == 2
    assert env.bot is not None
    async with env.bot.store.sessions() as s:
        samples = (await s.execute(text("SELECT COUNT(*) FROM metric_samples"))).scalar_one()
    assert samples == 2  # one by the metrics:write key, one by the admin token


async def test_a_key_may_hold_several_scopes_and_use_x_api_key(env: Env) -> None:
    await env.start("summer-hero")
    key = await new_key(env, "releases:read", "flags:read", name="dashboard")
    assert (await call(env, "GET /api/v1/releases/summer-hero", key))[0] == 200
    assert (await call(env, "GET /api/v1/flags/summer-hero", key, header="X-API-Key"))[0] == 200
    status, body = await call(env, "POST /api/v1/metrics", key)
    assert status == 403 and body["error"] == "this key lacks scope metrics:write"


async def test_revoked_expired_and_unknown_keys_say_why(env: Env) -> None:
    await env.start("summer-hero")
    assert env.bot is not None
    ks = KeyStore(env.bot.store)
    revoked = await new_key(env, "releases:read", name="old-ci")
    expired = await new_key(env, "releases:read", name="temp", expires_in=timedelta(seconds=-1))
    live = await new_key(env, "releases:read", name="ci", expires_in=timedelta(days=90))
    route = "GET /api/v1/releases/summer-hero"
    assert (await call(env, route, revoked))[0] == 200
    rows = {r.name: r for r in await ks.all()}
    await ks.revoke(rows["old-ci"].id or 0, actor="test", now=env.clock())

    status, body = await call(env, route, revoked)
    assert status == 401 and body["error"].startswith("key revoked")
    status, body = await call(env, route, expired)
    assert status == 401 and body["error"].startswith("key expired")
    # Right id, wrong secret: unknown, not "revoked" (nothing about the stored key leaks).
    forged = live.rsplit("_", 1)[0] + "_" + "A" * 43
    status, body = await call(env, route, forged)
    assert status == 401 and body["error"].startswith("unknown key")
    status, body = await call(env, route, None)
    assert status == 401 and "bearer" in body["error"]
    assert (await call(env, route, live))[0] == 200

    # The database holds hashes only, and remembers when a key was last used.
    async with env.bot.store.sessions() as s:
        stored = (await s.execute(text("SELECT name, secret_hash, last_used_at FROM api_keys ORDER BY id"))).all()
    assert [(name, h) for name, h, _ in stored] == [
        ("old-ci", hash_key(revoked)),
        ("temp", hash_key(expired)),
        ("ci", hash_key(live)),
    ]
    used = {name: at for name, _, at in stored}
    assert used["ci"] is not None and used["temp"] is None
