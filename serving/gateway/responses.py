"""HTTP helpers shared by the blueprints: orjson responses and request body checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from flask import Request, Response
from werkzeug.local import LocalProxy

from serving.gateway.errors import PayloadTooLarge, UnsupportedMediaType

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """`payload` serialized by orjson (numpy arrays and float32 scalars included)."""
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    # content_type, not mimetype: the same header without werkzeug working out a charset.
    return Response(body, status=status, headers=headers, content_type=JSON)


def read_body(request: Request, accept: tuple[str, ...] = (JSON,), allow_missing_type: bool = False) -> bytes:
    """The raw body, after checking its Content-Type and Content-Encoding (415 otherwise).

    Reading it enforces GATEWAY_MAX_BODY_BYTES (werkzeug raises 413), with or without a
    Content-Length header.
    """
    if isinstance(request, LocalProxy):
        request = request._get_current_object()  # one context lookup instead of one per use
    mimetype = request.mimetype
    if not mimetype:
        if not allow_missing_type:
            raise UnsupportedMediaType(f"missing Content-Type: send {accept[0]}")
    elif mimetype not in accept and not (JSON in accept and mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"Content-Type {mimetype!r} is not supported: send {' or '.join(accept)}")
    # What request.headers.get("Content-Encoding", "identity") reads, without the lookup.
    encoding = request.environ.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported: send the body uncompressed")
    body = request.get_data(cache=False)
    limit = request.max_content_length
    if limit is not None and not request.content_length and len(body) >= limit:
        # Without a Content-Length (chunked), werkzeug stops reading at the limit and
        # returns what it has: a truncated body must be refused, not parsed.
        raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
    return body
