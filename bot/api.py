"""The HTTP API under /api/v1: a bearer key with the route's scope, or RELEASEGATE_API_TOKEN (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.api_auth import auth_middleware
from bot.bundle_api import add_bundle_routes
from bot.bundle_loader import check_name
from bot.metrics_api import add_metrics_routes
from bot.traffic.allocation import region_percents
from gates.ramp import region_split
from storage.keys import KeyStore

if TYPE_CHECKING:
    from bot.app import Bot


def add_routes(app: web.Application, bot: Bot) -> None:
    # Each route needs its scope (bot/api_auth.py ROUTE_SCOPES); the admin token holds them all.
    app.middlewares.append(auth_middleware(bot.settings.api_token, KeyStore(bot.store), bot.lifecycle.clock))

    async def get_release(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if check_name(name):
            return web.json_response({"error": "invalid release name"}, status=400)
        release = await bot.store.latest_release(name)
        if release is None:
            return web.json_response({"error": f"no release named {name}"}, status=404)
        runs = await bot.store.phase_runs(release.id or 0)
        phases = []
        for run in runs:
            results = await bot.store.gate_results(run.id or 0)
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
            for d in await bot.store.decisions(release.id or 0)
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
        release = await bot.store.latest_release(name)
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
    add_metrics_routes(app, bot)
    add_bundle_routes(app, bot)
