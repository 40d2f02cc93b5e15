"""Inspector access: signed expiring login links, session cookies, CSRF tokens, the API token.

Everything is an HMAC under RELEASEGATE_SESSION_SECRET with a purpose prefix, so a login
signature can never be replayed as a session or a CSRF token. A session is valid while its
signature verifies and its expiry is in the future. A login link carries a random nonce and works
once: the database remembers the links already used (``Store.use_login_link``), so a link that
leaks from a DM after its owner signed in opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
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
    """A one-time link that signs ``user`` in, valid until ``ttl`` from now (for the `/release inspector` DM)."""
    if not settings.session_secret:
        raise ValueError("setting RELEASEGATE_SESSION_SECRET is required for inspector login links")
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)
    exp = str(int((now if now is not None else time.time()) + seconds))
    nonce = secrets.token_hex(16)
    sig = _sign(settings.session_secret, "login", user, exp, nonce)
    query = urlencode({"u": user, "exp": exp, "n": nonce, "sig": sig})
    base = (settings.public_url or "").rstrip("/")
    return f"{base}{LOGIN_PATH}?{query}"


@dataclass(frozen=True)
class LoginLink:
    user: str
    exp: str
    nonce: str
    sig: str

    @property
    def expires(self) -> float:
        return float(self.exp)

    @property
    def digest(self) -> str:
        """What the database remembers of a used link: enough to recognise it, useless to replay."""
        return hashlib.sha256(self.sig.encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (str compare_digest raises on it)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _digits(value: str) -> bool:
    # str.isdigit() accepts "²" and Arabic-Indic digits, which int() then refuses or reads differently.
    return value.isascii() and value.isdigit()


def check_login(settings: Settings, fields: Mapping[str, str], *, now: float | None = None) -> LoginLink | None:
    """The link's fields if its signature verifies and it has not expired; whether it was used is
    the database's question."""
    link = LoginLink(fields.get("u", ""), fields.get("exp", ""), fields.get("n", ""), fields.get("sig", ""))
    if not settings.session_secret or not link.user or not _digits(link.exp) or not link.nonce or not link.sig:
        return None
    good = _sign(settings.session_secret, "login", link.user, link.exp, link.nonce)
    if not _same(good, link.sig) or int(link.exp) <= (now if now is not None else time.time()):
        return None
    return link


def make_session(settings: Settings, user: str, *, now: float | None = None) -> str:
    """The cookie value: user, expiry and a random session id, signed. The id is also stored (hashed)
    server-side, so signing out ends the session even though the cookie still verifies."""
    assert settings.session_secret
    exp = str(int((now if now is not None else time.time()) + SESSION_TTL.total_seconds()))
    sid = secrets.token_urlsafe(24)
    return f"{user}|{exp}|{sid}|{_sign(settings.session_secret, 'session', user, exp, sid)}"


def session_id_hash(value: str) -> str:
    """What the database keeps of a session cookie: the hash of its id, useless to present."""
    return hashlib.sha256(value.split("|")[2].encode()).hexdigest() if value.count("|") == 3 else ""


@dataclass(frozen=True)
class Viewer:
    user: str
    via: str  # session | token
    session: str | None = None


def session_user(settings: Settings, value: str | None, *, now: float | None = None) -> str | None:
    """The user of a well-formed, correctly signed, unexpired cookie; whether it was ended is the database's
    question (``Store.session_user``)."""
    if not settings.session_secret or not value or value.count("|") != 3:
        return None
    user, exp, sid, sig = value.split("|")
    if not _digits(exp) or int(exp) <= (now if now is not None else time.time()) or not sid:
        return None
    return user if _same(_sign(settings.session_secret, "session", user, exp, sid), sig) else None


def viewer(request: web.Request, settings: Settings) -> Viewer | None:
    """Who is asking: a valid session cookie, or the API bearer token (scripts). None: refuse."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and settings.api_token:
        given = header.removeprefix("Bearer ").strip()
        if given and _same(given, settings.api_token):
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
    return bool(token) and _same(csrf_token(settings, v.session), token)
