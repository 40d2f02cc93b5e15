"""The API middleware hands handlers the caller (``principal(request)``) and its audit actor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.http.auth import ADMIN, PRINCIPAL, auth_middleware, principal, require_scope
from storage.keys import KeyStore
from storage.repo import Store

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_handlers_see_who_called_and_the_audit_actor(store: Store) -> None:
    keys = KeyStore(store)
    created = await keys.create(
        name="rum-collector",
        scopes=frozenset({"metrics:write"}),
        origins=(),
        expires_at=NOW + timedelta(days=1),
        actor="test",
        now=NOW,
    )
    app = web.Application(middlewares=[auth_middleware("admin-secret", keys, lambda: NOW)])

    async def whoami(request: web.Request) -> web.Response:
        p = principal(request)
        assert request[PRINCIPAL] is p
        return web.json_response({"actor": p.actor, "key_id": p.key_id, "scopes": sorted(p.scopes)})

    app.router.add_post("/api/v1/metrics", whoami)
    app.router.add_get("/api/v1/whoami", whoami)  # not in the scope table: admin only
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/api/v1/metrics", headers={"Authorization": f"Bearer {created.token}"})
        assert await r.json() == {"actor": "key:rum-collector", "key_id": created.row.id, "scopes": ["metrics:write"]}
        r = await client.post("/api/v1/metrics", headers={"Authorization": "Bearer admin-secret"})
        body = await r.json()
        assert body["actor"] == "key:admin" and body["key_id"] is None and "bundles:write" in body["scopes"]
        r = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {created.token}"})
        assert r.status == 403 and (await r.json())["error"].startswith("this key lacks scope admin")
        # A route module declares its scope and the key opens it.
        require_scope("GET", "/api/v1/whoami", "metrics:write")
        try:
            r = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {created.token}"})
            assert r.status == 200
        finally:
            from bot.http.auth import ROUTE_SCOPES

            ROUTE_SCOPES.pop(("GET", "/api/v1/whoami"))
    assert ADMIN.name == "admin" and ADMIN.key_id is None and ADMIN.actor == "key:admin"
