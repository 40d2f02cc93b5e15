"""Inspector access: signed expiring login links, session cookies, CSRF tokens, the API token.

Everything is an HMAC under RELEASEGATE_SESSION_SECRET with a purpose prefix, so a login
signature can never be replayed as a session or a CSRF token. Nothing is stored server-side:
a session is valid while its signature verifies and its expiry is in the future.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.settings import Settings

COOKIE = "rg_inspector"
SESSION_TTL = timedelta(hours=8)
LOGIN_PATH = "/inspector/login"


def _sign(secret: str, purpose: str, *parts: str) -> str:
    msg = "\x00".join((purpose, *parts)).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def make_login_link(settings: Settings, user: str, ttl: timedelta | float = 600, *, now: float | None = None) -> str:
    """A link that signs ``user`` in until ``ttl`` from now (for the `/release inspector` DM)."""
    if not settings.session_secret:
        raise ValueError("setting RELEASEGATE_SESSION_SECRET is required for inspector login links")
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    exp = str(int((now if now is not None else time.time()) + seconds))
    query = urlencode({"u": user, "exp": exp, "sig": _sign(settings.session_secret, "login", user, exp)})
    base = (settings.public_url or "").rstrip("/")
    return f"{base}{LOGIN_PATH}?{query}"


def check_login(settings: Settings, user: str, exp: str, sig: str, *, now: float | None = None) -> bool:
    if not settings.session_secret or not user or not exp.isdigit() or not sig:
        return False
    good = _sign(settings.session_secret, "login", user, exp)
    return hmac.compare_digest(good, sig) and int(exp) > (now if now is not None else time.time())


def make_session(settings: Settings, user: str, *, now: float | None = None) -> str:
    assert settings.session_secret
    exp = str(int((now if now is not None else time.time()) + SESSION_TTL.total_seconds()))
    return f"{user}|{exp}|{_sign(settings.session_secret, 'session', user, exp)}"


@dataclass(frozen=True)
class Viewer:
    user: str
    via: str  # session | token
    session: str | None = None


def session_user(settings: Settings, value: str | None, *, now: float | None = None) -> str | None:
    if not settings.session_secret or not value or value.count("|") != 2:
        return None
    user, exp, sig = value.split("|")
    if not exp.isdigit() or int(exp) <= (now if now is not None else time.time()):
        return None
    return user if hmac.compare_digest(_sign(settings.session_secret, "session", user, exp), sig) else None


def viewer(request: web.Request, settings: Settings) -> Viewer | None:
    """Who is asking: a valid session cookie, or the API bearer token (scripts). None: refuse."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and settings.api_token:
        given = header.removeprefix("Bearer ").strip()
        if given and hmac.compare_digest(given.encode(), settings.api_token.encode()):
            return Viewer("api-token", "token")
    value = request.cookies.get(COOKIE)
    user = session_user(settings, value)
    return Viewer(user, "session", value) if user else None


def csrf_token(settings: Settings, session: str | None) -> str:
    """Bound to the session, so a token seen by another user (or an old session) is useless."""
    if not settings.session_secret or not session:
        return ""
    return _sign(settings.session_secret, "csrf", session)


def check_csrf(settings: Settings, v: Viewer, token: str) -> bool:
    if v.via == "token":
        return True  # bearer tokens are not sent automatically by browsers, so there is no cross-site risk
    return bool(token) and hmac.compare_digest(csrf_token(settings, v.session), token)
