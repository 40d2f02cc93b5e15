"""The HTTP API under /api/v1: a bearer key with the route's scope, or RELEASEGATE_API_TOKEN (admin)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.http.auth import auth_middleware
from bot.http.bundles import add_bundle_routes
from bot.http.context import HttpContext
from bot.http.metrics import add_metrics_routes
from bot.http.openapi import add_openapi_route
from bot.preview.bundle import check_name
from bot.traffic.allocation import region_percents
from gates.ramp import region_split
from storage.keys import KeyStore


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Under /api/, even an unknown path or a wrong method answers in JSON with a reason."""
    try:
        resp: web.StreamResponse = await handler(request)
        return resp
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        return web.json_response({"error": f"{exc.reason}: {request.method} {request.path}"}, status=exc.status)


def add_routes(app: web.Application, ctx: HttpContext) -> None:
    app.middlewares.append(json_errors)
    # Each route needs its scope (bot/http/auth.py ROUTE_SCOPES); the admin token holds them all.
    app.middlewares.append(auth_middleware(ctx.settings.api_token, KeyStore(ctx.store), ctx.clock))

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
    add_openapi_route(app)
    add_bundle_routes(app, ctx)
