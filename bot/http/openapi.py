"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of ``/api/v1/*`` (public: it holds no data)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

_ERROR = {
    "description": "A clear reason",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,62}$"},
}


def _refusals(*codes: int) -> dict[str, Any]:
    return {str(c): _ERROR for c in codes}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "releasegate API",
        "version": "1",
        "description": "Ship web images safely. Every route needs a bearer key with its scope, or the admin token.",
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Sample": {
                "type": "object",
                "description": "A web-vitals metric (LCP, INP, CLS, FCP, TTFB) or an edge counter "
                "(requests, errors, cache_hit, cache_miss), plus release, cohort, region and page.",
                "required": ["name", "value", "release", "cohort"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": "number"},
                    "id": {"type": "string"},
                    "rating": {"type": "string"},
                    "delta": {"type": "number"},
                    "navigationType": {"type": "string"},
                    "release": {"type": "string"},
                    "cohort": {"enum": ["canary", "baseline"]},
                    "region": {"type": "string"},
                    "page": {"type": "string"},
                },
            },
        },
    },
    "security": [{"bearer": []}, {"apiKey": []}],
    "paths": {
        "/api/v1/metrics": {
            "post": {
                "summary": "Real-user samples in (scope metrics:write); each item is judged on its own",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"type": "array", "items": {"$ref": "#/components/schemas/Sample"}},
                                    {
                                        "type": "object",
                                        "required": ["samples"],
                                        "properties": {
                                            "samples": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Sample"},
                                            }
                                        },
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "202": {"description": "How many were accepted, and why each rejected item was rejected"},
                    **_refusals(400, 401, 403, 411, 413, 503),
                },
            }
        },
        "/api/v1/releases": {
            "post": {
                "summary": "CI uploads a bundle (scope bundles:write): release.yml plus every referenced file",
                "parameters": [{"name": "name", "in": "query", "required": True, "schema": {"type": "string"}}],
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "201": {"description": "Stored; the bundle digest and each image's SHA-256"},
                    **_refusals(400, 401, 403, 409, 413),
                },
            }
        },
        "/api/v1/releases/{name}": {
            "get": {
                "summary": "A release: state, phase, phases with their gate results, decisions (scope releases:read)",
                "parameters": [_NAME],
                "responses": {"200": {"description": "The release"}, **_refusals(400, 401, 403, 404)},
            }
        },
        "/api/v1/flags/{name}": {
            "get": {
                "summary": "The current traffic split of a release (scope flags:read)",
                "parameters": [_NAME],
                "responses": {"200": {"description": "The split"}, **_refusals(400, 401, 403, 404)},
            }
        },
        "/api/v1/openapi.json": {
            "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}
        },
    },
}


def add_openapi_route(app: web.Application) -> None:
    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    app.router.add_get("/api/v1/openapi.json", openapi)
