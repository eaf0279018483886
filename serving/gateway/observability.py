"""Request ids, JSON access logs and per-request metrics.

Every request gets an id: the client's `X-Request-ID` when it is a sane token (letters,
digits and `._:-`, at most 128 characters), else a fresh one. It is echoed in the
response header, carried in every log line and in the message of an unexpected error.
One JSON access-log line is written per request on the `serving.gateway.access` logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
from flask import Flask, Response, g, request

from serving.gateway import metrics

REQUEST_ID_HEADER = "X-Request-ID"
MODEL_VERSION_HEADER = "X-Model-Version"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("serving.gateway.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Serialize `record`, including the extra attributes passed to the log call."""
        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(doc, default=str).decode()
        except TypeError:  # e.g. an integer beyond 64 bits in an extra field
            return json.dumps(doc, default=str)


JsonFormatter.converter = time.gmtime


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record (not at creation)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(level: str) -> None:
    """Send the gateway's loggers to stderr as JSON lines (once per process)."""
    root = logging.getLogger("serving.gateway")
    root.setLevel(level.upper())
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False


def request_id() -> str:
    """The current request's id."""
    return getattr(g, "request_id", "-")


def install(app: Flask) -> None:
    """Register the request-id, access-log and metrics hooks on `app`."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        response.headers[REQUEST_ID_HEADER] = request_id()
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        metrics.record_request(request.method, route, response.status_code, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return response  # GATEWAY_LOG_LEVEL=warning: not even the line's fields are built
        access_log.info(
            "request",
            extra={
                "request_id": request_id(),
                "method": request.method,
                "path": request.path[:512],
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
                "bytes_in": request.content_length or 0,
                "bytes_out": response.calculate_content_length() or 0,
                "model": g.get("model"),
                "model_version": response.headers.get(MODEL_VERSION_HEADER),
                "remote_addr": request.remote_addr,
                "user_agent": request.user_agent.string[:200],
            },
        )
        return response
