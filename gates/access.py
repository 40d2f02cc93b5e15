"""API key scopes and the rules about keys, as plain functions (no I/O, the clock passed in).

A scoped key opens only the routes its scopes name; ``RELEASEGATE_API_TOKEN`` is the admin key
and holds every scope. Which route needs which scope lives beside the routes (``bot/http/auth.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Final, Literal
from urllib.parse import urlsplit

# Scope → what it opens, for `keys create --help`, the README and error messages.
SCOPES: Final[dict[str, str]] = {
    "metrics:write": "POST /api/v1/metrics (server-side RUM collectors)",
    "rum:write": "browser beacons from the key's origins (public; needs at least one --origin)",
    "flags:read": "GET /api/v1/flags/{name} and OFREP evaluation (may be public)",
    "bundles:write": "POST /api/v1/releases (CI uploads bundles)",
    "releases:read": "GET /api/v1/releases/{name}",
}
ALL_SCOPES: Final[frozenset[str]] = frozenset(SCOPES)
# Scopes whose keys are used from browsers and so must name the origins allowed to use them.
NEEDS_ORIGIN: Final[frozenset[str]] = frozenset({"rum:write"})

KEY_PREFIX: Final = "rgk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

KeyState = Literal["active", "revoked", "expired"]


class KeyRuleError(ValueError):
    """A key request breaks a rule; the message says which and what to do."""


def parse_scopes(values: Iterable[str]) -> frozenset[str]:
    """``["metrics:write,flags:read", "releases:read"]`` → the set; unknown or no scope is an error."""
    found: set[str] = set()
    for value in values:
        for part in value.split(","):
            scope = part.strip()
            if not scope:
                continue
            if scope not in SCOPES:
                raise KeyRuleError(f"unknown scope {scope!r} (known scopes: {', '.join(SCOPES)})")
            found.add(scope)
    if not found:
        raise KeyRuleError(f"name at least one scope with --scope (known scopes: {', '.join(SCOPES)})")
    return frozenset(found)


def normalise_origin(value: str) -> str:
    """``https://shop.example.com/`` → ``https://shop.example.com``; an origin has no path or query."""
    raw = value.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KeyRuleError(f"origin {value!r} is not an http(s) origin like https://shop.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise KeyRuleError(f"origin {value!r} must be scheme://host[:port] only, without a path")
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def check_key_request(scopes: frozenset[str], origins: Iterable[str]) -> tuple[str, ...]:
    """The normalised origins, or :class:`KeyRuleError` (browser scopes need at least one origin)."""
    normalised = tuple(dict.fromkeys(normalise_origin(o) for o in origins))
    needing = sorted(scopes & NEEDS_ORIGIN)
    if needing and not normalised:
        raise KeyRuleError(f"scope {needing[0]} is used from browsers: name the sites allowed with --origin URL")
    return normalised


def check_key_name(name: str) -> str:
    if not _NAME.match(name):
        raise KeyRuleError(f"key name {name!r}: use letters, digits and . _ : - (at most 64, no spaces)")
    return name


def key_state(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> KeyState:
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


def split_token(token: str) -> int | None:
    """The key id a presented ``rgk_<id>_<secret>`` token claims, or None if it is not shaped like one."""
    if not token.startswith(KEY_PREFIX):
        return None
    ident, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or not secret or not ident.isdigit() or len(ident) > 12:
        return None
    return int(ident)
