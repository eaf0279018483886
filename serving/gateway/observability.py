"""Request ids, JSON access logs and per-request metrics.

Every request gets an id: the client's `X-Request-ID` when it is a sane token (letters,
digits and `._:-`, at most 128 characters), else a fresh one. It is echoed in the
response header, carried in every log line and in the message of an unexpected error.
One JSON access-log line is written per request on the `serving.gateway.access` logger.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
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
        return _dumps(doc)


JsonFormatter.converter = time.gmtime


def _dumps(doc: dict[str, Any]) -> str:
    try:
        return orjson.dumps(doc, default=str).decode()
    except TypeError:  # e.g. an integer beyond 64 bits in an extra field
        return json.dumps(doc, default=str)


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


def new_request_id() -> str:
    """A fresh id: what `uuid.uuid4().hex` gives (version 4, RFC 4122 variant), without
    building the UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def install(app: Flask) -> None:
    """Register the request-id, access-log and metrics hooks on `app`."""

    @app.before_request
    def _start() -> None:
        # The proxies are resolved once: each access through them costs a context lookup.
        req, ctx = request._get_current_object(), g._get_current_object()
        ctx.started = time.perf_counter()
        given = req.environ.get("HTTP_X_REQUEST_ID", "")  # what headers.get would read
        ctx.request_id = given if _SAFE_ID.match(given) else new_request_id()

    @app.after_request
    def _finish(response: Response) -> Response:
        req, ctx = request._get_current_object(), g._get_current_object()
        seconds = time.perf_counter() - getattr(ctx, "started", time.perf_counter())
        rid = getattr(ctx, "request_id", "-")
        response.headers[REQUEST_ID_HEADER] = rid
        rule = req.url_rule
        route = rule.rule if rule is not None else "<unmatched>"
        status = response.status_code
        metrics.record_request(req.method, route, status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return response  # GATEWAY_LOG_LEVEL=warning: not even the line's fields are built
        fields = {
            "request_id": rid,
            "method": req.method,
            "path": req.path[:512],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes_in": req.content_length or 0,
            "bytes_out": response.calculate_content_length() or 0,
            "model": getattr(ctx, "model", None),
            "model_version": response.headers.get(MODEL_VERSION_HEADER),
            "remote_addr": req.remote_addr,
            "user_agent": req.headers.get("User-Agent", "")[:200],  # = request.user_agent.string
        }
        handler = _direct_handler()
        if handler is None:
            access_log.info("request", extra=fields)
        else:
            _write_access_line(handler, fields)
        return response


# -- the access log without the logging machinery ------------------------------------------
#
# A LogRecord, its extra-field merge and the generic JsonFormatter cost more than the rest
# of the line. When the access line would only reach our own stderr handler and formatter
# (the production setup), it is written directly: the same JSON, the same lock, the same
# stream. Anything else (another handler, a filter, pytest's caplog) takes the normal path.

_gateway_log = logging.getLogger("serving.gateway")
_ts_cache: tuple[int, str] = (-1, "")


def _direct_handler() -> logging.Handler | None:
    """Our stderr handler if an access record would reach it alone, unfiltered; else None."""
    if (
        access_log.handlers
        or access_log.filters
        or not access_log.propagate
        or access_log.parent is not _gateway_log
        or _gateway_log.propagate
        or len(_gateway_log.handlers) != 1
        or logging.getLogRecordFactory() is not logging.LogRecord
    ):
        return None
    handler = _gateway_log.handlers[0]
    if (
        type(handler) is not _StderrHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not JsonFormatter
    ):
        return None
    return handler


def _timestamp() -> str:
    """Now, as JsonFormatter writes a record's time (UTC, milliseconds truncated)."""
    global _ts_cache
    now = time.time()
    second = int(now)
    cached_second, prefix = _ts_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        _ts_cache = (second, prefix)
    return f"{prefix}.{int((now - second) * 1000):03d}Z"


def _write_access_line(handler: logging.Handler, fields: dict[str, Any]) -> None:
    """What `access_log.info("request", extra=fields)` writes through `handler`."""
    doc = {"ts": _timestamp(), "level": "info", "logger": access_log.name, "msg": "request", **fields}
    handler.acquire()
    try:
        handler.stream.write(_dumps(doc) + handler.terminator)
        handler.flush()
    except RecursionError:
        raise
    except Exception:  # noqa: BLE001 - as logging.StreamHandler.emit: the handler reports it
        handler.handleError(access_log.makeRecord(access_log.name, logging.INFO, "", 0, "request", (), None))
    finally:
        handler.release()
