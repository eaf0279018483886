"""Optional API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`.

When `GATEWAY_API_KEYS` is set every endpoint needs one of its keys, except the probes
and documents that orchestrators and people read without credentials: the health and
readiness endpoints (also the v2 ones), `/metrics`, `/openapi.json`, `/docs` and the web
page's static files (`/`, `/ui/...`; the page then sends the key the user gives it).
Keys are compared with `hmac.compare_digest` against every configured key, so the time
taken does not reveal how much of a key matched or which key it was.
"""

from __future__ import annotations

import hmac

from flask import Request

from serving.gateway.errors import Unauthorized

OPEN_ENDPOINTS = frozenset(
    {
        "ops.healthz",
        "ops.readyz",
        "ops.metrics",
        "ops.openapi",
        "ops.docs",
        "v2.live",
        "v2.ready",
        "ui.index",
        "ui.static",
    }
)


def presented_key(request: Request) -> str | None:
    """The key the request carries, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


def is_valid(key: str | None, keys: tuple[str, ...]) -> bool:
    """Whether `key` is one of `keys`, compared in constant time."""
    if key is None:
        return False
    given = key.encode("utf-8", "surrogateescape")
    found = False
    for candidate in keys:
        found |= hmac.compare_digest(given, candidate.encode("utf-8"))
    return found


def check(request: Request, keys: tuple[str, ...]) -> None:
    """Raise 401 unless no keys are configured, the endpoint is open, or the key is valid."""
    if not keys or request.endpoint in OPEN_ENDPOINTS:
        return
    key = presented_key(request)
    if key is None:
        raise Unauthorized("missing API key: send Authorization: Bearer <key> or X-API-Key: <key>")
    if not is_valid(key, keys):
        raise Unauthorized("invalid API key")
