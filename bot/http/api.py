"""The HTTP API under /api/v1 (bearer RELEASEGATE_API_TOKEN; refuses everything without it)."""

from __future__ import annotations

import hmac
from typing import Any

from aiohttp import web

from bot.http.bundles import add_bundle_routes
from bot.http.context import HttpContext
from bot.http.metrics import add_metrics_routes
from bot.preview.bundle import check_name
from bot.traffic.allocation import region_percents
from gates.ramp import region_split


def _authorised(request: web.Request, token: str | None) -> web.Response | None:
    if not token:
        return web.json_response({"error": "the API is disabled: set RELEASEGATE_API_TOKEN to enable it"}, status=401)
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return web.json_response(
            {"error": "missing or wrong bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return None


def add_routes(app: web.Application, ctx: HttpContext) -> None:
    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            refused = _authorised(request, ctx.settings.api_token)
            if refused is not None:
                return refused
        resp: web.StreamResponse = await handler(request)
        return resp

    app.middlewares.append(auth)

    async def get_release(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if check_name(name):
            return web.json_response({"error": "invalid release name"}, status=400)
        release = await ctx.store.latest_release(name)
        if release is None:
            return web.json_response({"error": f"no release named {name}"}, status=404)
        runs = await ctx.store.phase_runs(release.id or 0)
        phases = []
        for run in runs:
            results = await ctx.store.gate_results(run.id or 0)
            phases.append(
                {
                    "phase": run.phase,
                    "outcome": run.outcome,
                    "started_at": run.started_at.isoformat(),
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                    "gates": [r.to_dict() for r in results],
                }
            )
        decisions = [
            {"phase": d.phase, "decision": d.decision, "by": d.by, "at": d.at.isoformat(), "comment": d.comment}
            for d in await ctx.store.decisions(release.id or 0)
        ]
        return web.json_response(
            {
                "name": release.name,
                "attempt": release.attempt,
                "title": release.title,
                "state": release.state,
                "phase": release.phase,
                "requested_by": release.requested_by,
                "traffic_percent": release.traffic_percent,
                "created_at": release.created_at.isoformat(),
                "updated_at": release.updated_at.isoformat(),
                "phases": phases,
                "decisions": decisions,
            }
        )

    async def get_flags(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if check_name(name):
            return web.json_response({"error": "invalid release name"}, status=400)
        release = await ctx.store.latest_release(name)
        if release is None:
            return web.json_response({"error": f"no release named {name}"}, status=404)
        weights = release.policy.get("phases", {}).get(release.phase, {}).get("traffic", {}).get("regions") or {}
        allocation = region_split({str(k): float(v) for k, v in weights.items()})
        pct = release.traffic_percent
        return web.json_response(
            {
                "release": release.name,
                "phase": release.phase,
                "percent": pct,
                # What each region runs, the same numbers the flag engines were given.
                "regions": region_percents(pct, allocation),
                "allocation": allocation,
                "state": release.state,
            }
        )

    app.router.add_get("/api/v1/releases/{name}", get_release)
    app.router.add_get("/api/v1/flags/{name}", get_flags)
    add_metrics_routes(app, ctx)
    add_bundle_routes(app, ctx)
