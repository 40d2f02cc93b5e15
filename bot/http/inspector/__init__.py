"""The audit inspector: read-only, server-rendered pages over releases, evidence and the audit log.

``GET /inspector`` lists releases; ``GET /inspector/releases/{name}`` shows the phase timeline,
decisions with their evidence packages and thumbnails, and the release's audit entries. Access
is a session from a signed link (``make_login_link``) or the API bearer token; nothing is
anonymous. Every page is a GET that changes nothing; of the two POSTs, sign-in spends a one-time
link and sign-out checks a CSRF token.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.artifacts.evidence import gate_entry
from bot.artifacts.report import fmt_duration, fmt_value
from bot.cli.audit import CSV_COLUMNS, neutralise
from bot.http.context import HttpContext
from bot.http.inspector.auth import (
    COOKIE,
    LOGIN_PATH,
    SESSION_TTL,
    Viewer,
    check_csrf,
    check_login,
    csrf_token,
    make_login_link,
    make_session,
    session_id_hash,
    viewer,
)
from bot.preview.bundle import check_name
from storage.audit import encode_entry
from storage.checkpoints import CheckpointStore, load_private_key, verify_log
from storage.evidence import ContentStore, EvidenceStore, IntegrityProblem
from storage.repo import AuditNote

__all__ = ["add_routes", "make_login_link"]

VIEWER = web.RequestKey("inspector_viewer", Viewer)
_SHA = re.compile(r"^[0-9a-f]{64}$")

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_env.filters["ts"] = lambda t: t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "—"

# Pages only need our own CSS and images (data: for reports); nothing may frame them or leak the
# URL (a login link carries its signature) through Referer.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class AuditStatus:
    ok: bool
    text: str


def _page(template: str, status: int = 200, **ctx: Any) -> web.Response:
    html = _env.get_template(template).render(dur=fmt_duration, val=fmt_value, **ctx)
    return web.Response(text=html, status=status, content_type="text/html", headers=_HEADERS)


def _refuse(status: int, heading: str, text: str) -> web.Response:
    return _page("message.html", status, heading=heading, text=text, viewer=None, redirect=None)


class Inspector:
    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.evidence = EvidenceStore(ctx.store.engine)
        self.checkpoints = CheckpointStore(ctx.store.engine)
        self.content = ContentStore(Path(ctx.settings.artifacts_dir))
        # Verifying is O(entries); cache by head so page views between appends cost nothing.
        self._audit_cache: tuple[tuple[int, str, int], AuditStatus] | None = None

    # -- access ---------------------------------------------------------------------------

    async def _who(self, request: web.Request) -> Viewer | None:
        v = viewer(request, self.settings)
        if v is None or v.via != "session" or v.session is None:
            return v
        # The cookie verifies; the session must also still be open (signing out ends it server-side).
        live = await self.ctx.store.session_user(session_id_hash(v.session), datetime.now(UTC))
        return v if live == v.user else None

    def _ctx(self, v: Viewer) -> dict[str, Any]:
        return {"viewer": v, "csrf": csrf_token(self.settings, v.session)}

    async def login_page(self, request: web.Request) -> web.Response:
        """A GET only shows a button: whatever fetches links on its own (unfurlers, scanners) must
        not spend the one use a link has."""
        link = check_login(self.settings, request.query)
        if link is None:
            return _refuse(
                403,
                "Link refused",
                "This sign-in link is invalid or has expired. Ask for a new one with /release inspector in Slack.",
            )
        return _page(
            "login.html", link=link, action=LOGIN_PATH, viewer=None, expires=datetime.fromtimestamp(link.expires, UTC)
        )

    async def login(self, request: web.Request) -> web.Response:
        # Login CSRF: another site's form could sign a victim in under its author's own link.
        # Browsers label every request with where it came from; only our own page may post here.
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            return _refuse(403, "Refused", "Sign in from the link itself, not from another site.")
        form = await request.post()
        link = check_login(self.settings, {k: str(v) for k, v in form.items()})
        if link is None:
            return _refuse(
                403,
                "Link refused",
                "This sign-in link is invalid or has expired. Ask for a new one with /release inspector in Slack.",
            )
        now = datetime.now(UTC)
        # Links are only sent to auditors, but the policy may have changed since: ask again.
        if not await self.ctx.is_auditor(link.user):
            await self.ctx.store.audit(
                AuditNote(link.user, "inspector.login", "refused", {"why": "not an auditor"}), now
            )
            return _refuse(
                403,
                "Not an auditor",
                "Only auditors may sign in to the Audit Inspector. Ask an admin "
                "to add you to `auditors` in policy.yml.",
            )
        if not await self.ctx.store.use_login_link(
            link.digest, link.user, now, datetime.fromtimestamp(link.expires, UTC)
        ):
            return _refuse(
                403,
                "Link already used",
                "Each sign-in link works once. Ask for a new one with /release inspector in Slack.",
            )
        await self._audit(link.user, "inspector.sign_in", {"link_expires": link.expires}, now)
        # 303 from a form on our own page: the navigation started here, so the Strict cookie is sent.
        resp = web.Response(status=303, headers={**_HEADERS, "Location": "/inspector"})
        session = make_session(self.settings, link.user)
        await self.ctx.store.open_session(session_id_hash(session), link.user, now, now + SESSION_TTL)
        resp.set_cookie(
            COOKIE,
            session,
            max_age=int(SESSION_TTL.total_seconds()),
            path="/inspector",
            httponly=True,
            # Lax: the cookie comes along when someone follows an inspector link from Slack.
            samesite="Lax",
            # Secure unless an operator explicitly runs the inspector over plain local HTTP.
            secure=not self.settings.insecure_cookies,
        )
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        v = await self._who(request)
        if v is None:
            return _refuse(401, "Not signed in", "Nothing to sign out of.")
        form = await request.post()
        if not check_csrf(self.settings, v, str(form.get("csrf", ""))):
            return _refuse(403, "Refused", "The form token is missing or wrong; reload the page and try again.")
        if v.session is not None:
            # Ended server-side: a copy of the cookie kept elsewhere opens nothing any more.
            await self.ctx.store.end_session(session_id_hash(v.session), datetime.now(UTC))
        resp = _page("message.html", heading="Signed out", text="You are signed out.", viewer=None, redirect=None)
        resp.del_cookie(COOKIE, path="/inspector")
        return resp

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/inspector") and request.path != LOGIN_PATH:
            v = await self._who(request)
            if v is None:
                return _refuse(
                    401,
                    "Sign in required",
                    "Open the inspector from the link the bot sends on /release inspector, or use the API token.",
                )
            request[VIEWER] = v
        resp: web.StreamResponse = await handler(request)
        return resp

    # -- data -----------------------------------------------------------------------------

    async def _audit(self, user: str, action: str, detail: dict[str, Any], now: datetime) -> None:
        """Who signed in and what they looked at is itself part of the record an auditor keeps."""
        await self.ctx.store.audit(AuditNote(user, action, "ok", detail), now)

    async def audit_status(self) -> AuditStatus:
        head = await self.checkpoints.head()
        cps = await self.checkpoints.all()
        key = (head.seq if head else 0, head.hash if head else "", len(cps))
        if self._audit_cache and self._audit_cache[0] == key:
            return self._audit_cache[1]
        entries = await self.ctx.store.audit_entries()
        keys = (
            [load_private_key(self.settings.audit_signing_key).public_key()] if self.settings.audit_signing_key else []
        )
        problem = await asyncio.to_thread(verify_log, entries, cps, keys)
        if problem is None:
            status = AuditStatus(True, f"intact — {len(entries)} entries verified, {len(cps)} signed checkpoint(s)")
        else:
            status = AuditStatus(False, f"TAMPERED at entry {problem.seq}: {problem.reason}")
        self._audit_cache = (key, status)
        return status

    # -- pages ----------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        releases = await self.evidence.release_names()
        return _page("index.html", releases=releases, audit=await self.audit_status(), **self._ctx(request[VIEWER]))

    async def release(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if check_name(name):
            return _refuse(400, "Bad name", "That is not a release name.")
        hist = await self.evidence.history(name)
        if not hist.attempts:
            return _refuse(404, "Not found", f"No release named {name}.")
        entries = await self.ctx.store.audit_entries(name)
        evidence_by_request = {
            e["detail"].get("request"): e["detail"].get("evidence")
            for e in entries
            if e["action"].startswith("decision.") and e["outcome"] in ("approve", "reject")
        }
        runs: list[dict[str, Any]] = []
        for release in hist.attempts:
            decided: dict[int, dict[str, Any]] = {}
            for d in hist.decisions.get(release.id or 0, []):
                req = await self.ctx.store.approval_request(d.approval_request_id)
                if req is not None:
                    decided[req.phase_run_id] = {
                        "decision": d.decision,
                        "by": d.by,
                        "at": d.at,
                        "comment": d.comment,
                        "evidence": evidence_by_request.get(d.approval_request_id),
                    }
            for run in hist.runs.get(release.id or 0, []):
                runs.append(await self._run_view(release.attempt, run, decided.get(run.id or 0)))
        longest = max((r["seconds"] for r in runs), default=0.0) or 1.0
        for r in runs:
            r["bar"] = round(0.3 + 12 * r["seconds"] / longest, 2)
        last = hist.attempts[-1]
        await self._audit(request[VIEWER].user, "inspector.view", {"release": name}, datetime.now(UTC))
        return _page(
            "release.html",
            name=name,
            title=last.title,
            runs=runs,
            entries=entries,
            audit=await self.audit_status(),
            **self._ctx(request[VIEWER]),
        )

    async def _run_view(self, attempt: int, run: Any, decision: dict[str, Any] | None) -> dict[str, Any]:
        duration = (run.finished_at - run.started_at) if run.finished_at else None
        view: dict[str, Any] = {
            "attempt": attempt,
            "phase": run.phase,
            "outcome": run.outcome,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration": duration,
            "seconds": duration.total_seconds() if duration else 0.0,
            "decision": decision,
            "package_ok": False,
            "permalink": None,
            "gates": [],
            "artifacts": [],
        }
        package = None
        if decision and decision.get("evidence"):
            try:
                package = json.loads(await asyncio.to_thread(self.content.get, decision["evidence"]))
                view["package_ok"] = True
            except (OSError, IntegrityProblem, ValueError):
                package = None
        if package is not None:
            # What the approver saw, from the hashed package rather than today's tables.
            view["gates"] = package.get("gates", [])
            view["artifacts"] = package.get("artifacts", [])
            view["permalink"] = (package.get("decision_message") or {}).get("permalink")
        else:
            view["gates"] = [gate_entry(g.to_dict()) for g in await self.ctx.store.gate_results(run.id or 0)]
            view["artifacts"] = [
                {"title": a.title, "sha256": a.sha256, "filename": a.filename}
                for a in await self.evidence.artifacts(run.id or 0)
            ]
        return view

    async def cas(self, request: web.Request) -> web.StreamResponse:
        digest = request.match_info["sha"]
        if not _SHA.match(digest):
            return _refuse(400, "Bad hash", "Not a SHA-256.")
        try:
            data = await asyncio.to_thread(self.content.get, digest)
        except FileNotFoundError:
            return _refuse(404, "Not found", "No such artifact.")
        except IntegrityProblem:
            return _refuse(409, "Altered", "The stored file no longer matches its hash.")
        ctype = (
            "image/png"
            if data[:8] == b"\x89PNG\r\n\x1a\n"
            else "application/json"
            if data[:1] == b"{"
            else "application/octet-stream"
        )
        return web.Response(body=data, content_type=ctype, headers=_HEADERS | {"ETag": f'"{digest}"'})

    async def export(self, request: web.Request) -> web.Response:
        fmt = request.match_info["fmt"]
        release = request.query.get("release") or None
        if release is not None and check_name(release):
            return _refuse(400, "Bad name", "That is not a release name.")
        entries = await self.ctx.store.audit_entries(release)
        await self._audit(
            request[VIEWER].user,
            "inspector.export",
            {"format": fmt, "release": release, "entries": len(entries)},
            datetime.now(UTC),
        )
        if fmt == "jsonl":
            body = b"".join(encode_entry(e) + b"\n" for e in entries)
            ctype = "application/x-ndjson"
        else:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(CSV_COLUMNS)
            for e in entries:
                row = [e.get(c) for c in CSV_COLUMNS]
                row[CSV_COLUMNS.index("detail")] = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
                w.writerow([neutralise("" if v is None else str(v)) for v in row])
            body = buf.getvalue().encode("utf-8")
            ctype = "text/csv"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        filename = f"audit-{release or 'all'}-{stamp}.{fmt}"
        return web.Response(
            body=body,
            content_type=ctype,
            headers=_HEADERS | {"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def add_routes(app: web.Application, ctx: HttpContext) -> None:
    ins = Inspector(ctx)
    app.middlewares.append(ins.guard)
    app.router.add_get(LOGIN_PATH, ins.login_page)
    app.router.add_post(LOGIN_PATH, ins.login)
    app.router.add_post("/inspector/logout", ins.logout)
    app.router.add_get("/inspector", ins.index)
    app.router.add_get("/inspector/", ins.index)
    app.router.add_get("/inspector/releases/{name}", ins.release)
    app.router.add_get("/inspector/cas/{sha}", ins.cas)
    app.router.add_get("/inspector/evidence/{sha}", ins.cas)
    app.router.add_get(r"/inspector/export.{fmt:(jsonl|csv)}", ins.export)
