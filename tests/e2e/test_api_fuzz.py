"""Every /api/v1 route, walked with generated bad input: no 5xx, and every refusal says why in JSON.

Inputs come from hypothesis strategies (drawn up front, then sent over real HTTP to the running app);
the OpenAPI document the app serves is validated as OpenAPI 3.1 and names every route."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any
from urllib.parse import quote

import aiohttp
from hypothesis import strategies as st
from hypothesis.errors import NonInteractiveExampleWarning
from openapi_spec_validator import validate

from bot.http.auth import ROUTE_SCOPES
from tests.e2e.harness import API_TOKEN, Env

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
CASES_PER_ROUTE = 120

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
_json = st.recursive(
    _scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)
_sampleish = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["LCP", "INP", "CLS", "requests", "errors", "nope", ""]) | st.text(max_size=5),
        "value": _scalars,
        "id": _scalars,
        "release": st.sampled_from(["summer-hero", "x\n", "", "ü"]) | st.text(max_size=70),
        "cohort": st.sampled_from(["canary", "baseline", "both"]) | _scalars,
        "region": _scalars,
        "page": _scalars,
        "delta": _scalars,
        "rating": _scalars,
    },
)
_bodies = (
    st.lists(_sampleish, max_size=6) | st.fixed_dictionaries({"samples": st.lists(_sampleish, max_size=4)}) | _json
)


def _draw(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        return [strategy.example() for _ in range(n)]


def _dump(doc: Any) -> bytes:
    # JSON as a client might send it, NaN and all; Python refuses ints over 4,300 digits as text.
    try:
        return json.dumps(doc, allow_nan=True).encode()
    except ValueError:
        return b"[" + b"9" * 5000 + b"]"


async def _expect_4xx_or_ok(r: aiohttp.ClientResponse, what: str) -> None:
    assert r.status < 500, (what, r.status, await r.text())
    if r.status >= 400:
        body = await r.json()
        assert isinstance(body.get("error"), str) and body["error"], (what, body)


async def test_the_openapi_document_is_valid_and_names_every_route(env: Env) -> None:
    async with env.session.get(f"{env.base}/api/v1/openapi.json") as r:  # no key needed
        assert r.status == 200
        doc = await r.json()
    validate(doc)  # raises on anything that is not OpenAPI 3.1
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert set(ROUTE_SCOPES) <= documented


async def test_generated_bad_input_never_gets_a_5xx(env: Env) -> None:
    await env.start("summer-hero")
    tried = 0
    for body in _draw(_bodies, CASES_PER_ROUTE):
        async with env.session.post(
            f"{env.base}/api/v1/metrics", data=_dump(body), headers={**AUTH, "Content-Type": "application/json"}
        ) as r:
            await _expect_4xx_or_ok(r, f"metrics {str(body)[:200]}")
        tried += 1
    for raw in _draw(st.binary(max_size=200) | st.text(max_size=200).map(str.encode), CASES_PER_ROUTE // 2):
        async with env.session.post(
            f"{env.base}/api/v1/metrics", data=raw, headers={**AUTH, "Content-Type": "application/json"}
        ) as r:
            await _expect_4xx_or_ok(r, f"metrics raw {raw[:100]!r}")
        tried += 1
    for name in _draw(st.text(max_size=80), CASES_PER_ROUTE):
        for route in ("releases", "flags"):
            async with env.session.get(f"{env.base}/api/v1/{route}/{quote(name, safe='')}", headers=AUTH) as r:
                assert r.status != 405 or name == "", name
                await _expect_4xx_or_ok(r, f"{route} {name!r}")
            tried += 1
    names = st.text(max_size=60)
    files = st.lists(st.tuples(st.text(max_size=60), st.binary(max_size=64)), max_size=4)
    for name, parts in zip(_draw(names, CASES_PER_ROUTE), _draw(files, CASES_PER_ROUTE), strict=True):
        form = aiohttp.FormData()
        for rel, data in parts:
            form.add_field("file", data, filename=quote(rel, safe="/") or "x", content_type="application/octet-stream")
        if not parts:
            form.add_field("file", b"", filename="release.yml")
        async with env.session.post(
            f"{env.base}/api/v1/releases?name={quote(name, safe='')}", data=form, headers=AUTH
        ) as r:
            await _expect_4xx_or_ok(r, f"upload {name!r} {[p[0] for p in parts]}")
        tried += 1
    assert tried >= 4 * CASES_PER_ROUTE and not math.isnan(tried)
    print(f"\n{tried} generated requests, none answered 5xx")
