"""Who is calling the HTTP API, and may they call this route: scoped keys and the admin token.

Every route under a protected prefix needs one scope (``ROUTE_SCOPES``); a route not in the
table is admin only, so a new route is closed until someone decides who may call it. The
caller lands in ``request[PRINCIPAL]`` (``principal(request)``) for handlers (audit actors, per-key origins).

401: no key, an unknown key, a revoked or an expired one (the answer says which).
403: a valid key without the route's scope ("this key lacks scope X").
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from gates.access import ALL_SCOPES, KEY_PREFIX
from storage.keys import KeyStore

log = logging.getLogger(__name__)

ADMIN_SCOPE: Final = "admin"

# (method, route as registered) → the scope it needs. Extend this when adding a route.
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/metrics"): "metrics:write",
    ("POST", "/api/v1/releases"): "bundles:write",
    ("GET", "/api/v1/releases/{name}"): "releases:read",
    ("GET", "/api/v1/flags/{name}"): "flags:read",
}
# Paths under these prefixes need a key; everything else (Slack events, health, inspector) has its own guard.
PROTECTED_PREFIXES: list[str] = ["/api/"]
# Under a protected prefix but open to anyone: they hold no data.
PUBLIC_PATHS: frozenset[str] = frozenset({"/api/v1/openapi.json"})


def require_scope(method: str, route: str, scope: str) -> None:
    """Declare the scope a route needs (for modules that add routes of their own)."""
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    ROUTE_SCOPES[(method.upper(), route)] = scope


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the admin token (key_id None) or one stored key."""

    name: str
    scopes: frozenset[str]
    key_id: int | None
    origins: tuple[str, ...] = field(default=())

    @property
    def actor(self) -> str:
        """The audit log's actor for what this caller does: ``key:<name>`` (``key:admin``)."""
        return f"key:{self.name}"

    @property
    def is_admin(self) -> bool:
        return self.key_id is None

    def may(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes


ADMIN: Final = Principal("admin", ALL_SCOPES, None)
# request[PRINCIPAL] (aiohttp's typed request key named "principal"); handlers call principal(request).
PRINCIPAL: Final = web.RequestKey("principal", Principal)


def principal(request: web.Request) -> Principal:
    """The caller of an API route (the middleware put it there)."""
    return request[PRINCIPAL]


def audit_actor(request: web.Request) -> str:
    return principal(request).actor


def scope_for(request: web.Request) -> str:
    """The scope the matched route needs; unmatched or unlisted routes need the admin token."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    method = "GET" if request.method == "HEAD" else request.method
    return ROUTE_SCOPES.get((method, canonical), ADMIN_SCOPE)


def presented_key(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("X-API-Key", "").strip()


def _refuse(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return web.json_response({"error": message}, status=status, headers=headers)


class ApiAuth:
    def __init__(self, admin_token: str | None, keys: KeyStore, clock: Callable[[], datetime]) -> None:
        self.admin_token = admin_token
        self.keys = keys
        self.clock = clock

    async def authenticate(self, given: str) -> Principal | web.Response:
        if not given:
            return _refuse(401, "missing bearer key: send Authorization: Bearer <key>")
        if self.admin_token and hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), self.admin_token.encode("utf-8", "surrogatepass")
        ):
            return ADMIN
        if not given.startswith(KEY_PREFIX):
            return _refuse(401, "unknown key: use a key from `releasegate keys create` or the admin token")
        found = await self.keys.lookup(given, self.clock())
        if found.row is None or found.row.id is None:
            return _refuse(401, "unknown key: use a key from `releasegate keys create` or the admin token")
        if found.state == "revoked":
            return _refuse(401, f"key revoked: key {found.row.id} ({found.row.name}) was revoked; ask for a new one")
        if found.state == "expired":
            return _refuse(401, f"key expired: key {found.row.id} ({found.row.name}) has expired; ask for a new one")
        return Principal(found.row.name, frozenset(found.row.scopes), found.row.id, tuple(found.row.origins))

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or not any(request.path.startswith(p) for p in PROTECTED_PREFIXES):
            return await handler(request)
        who = await self.authenticate(presented_key(request))
        if isinstance(who, web.Response):
            return who
        needed = scope_for(request)
        if not who.may(needed):
            hint = " (only RELEASEGATE_API_TOKEN may call this route)" if needed == ADMIN_SCOPE else ""
            return _refuse(403, f"this key lacks scope {needed}{hint}")
        request[PRINCIPAL] = who
        return await handler(request)


def auth_middleware(admin_token: str | None, keys: KeyStore, clock: Callable[[], datetime]) -> Any:
    return ApiAuth(admin_token, keys, clock).middleware
