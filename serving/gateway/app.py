"""The application factory, and the one place errors become HTTP answers.

Every error leaves as JSON `{"error": "..."}` with its status: the gateway's own
`GatewayError`s carry theirs; werkzeug's HTTP errors (404 unknown route, 405, 413 body
too large, ...) keep their code with a readable message; anything unexpected is a 500
whose body holds only the request id (the stack trace goes to the log, never the body).
"""

from __future__ import annotations

import logging

from flask import Flask, request
from flask.sessions import NullSession, SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from serving.gateway import auth, observability
from serving.gateway.backend import Backend
from serving.gateway.dataplane import DataPlane
from serving.gateway.errors import GatewayError, Unauthorized
from serving.gateway.metrics import InstrumentedBackend
from serving.gateway.readiness import ReadinessProbe
from serving.gateway.responses import json_response
from serving.gateway.settings import Settings
from serving.gateway.state import EXTENSION, GatewayState
from serving.gateway.versions import VersionResolver

log = logging.getLogger("serving.gateway")


class ModelNameConverter(BaseConverter):
    """A model name in a URL: what MODEL_NAME_RE accepts (no ':' so `:predict` is not eaten)."""

    regex = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}"


class _NoSessions(SecureCookieSessionInterface):
    """The gateway keeps no sessions (it has no secret key): every request gets the same
    read-only null session instead of a new one."""

    _null = NullSession()

    def open_session(self, app: Flask, request: object) -> NullSession:
        """The shared null session."""
        return self._null


class GatewayFlask(Flask):
    """Flask without two per-request costs the gateway has no use for: a session object
    per request, and asking for every hook and view whether it is a coroutine function."""

    session_interface = _NoSessions()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        """Flask.ensure_sync, remembered per callable (hooks and views do not change)."""
        try:
            return self._sync[func]
        except KeyError:
            wrapped = super().ensure_sync(func)
            if len(self._sync) < 1024:
                self._sync[func] = wrapped
            return wrapped
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> Flask:
    """Build the gateway app: settings from GATEWAY_* unless given, TF Serving's gRPC
    client on `settings.backend_address` unless a backend is injected."""
    settings = settings if settings is not None else Settings.from_env()
    observability.configure_logging(settings.log_level)
    if backend is None:
        backend = default_backend(settings)
    instrumented = InstrumentedBackend(backend)
    resolver = VersionResolver(instrumented, settings.model_root, settings.version_ttl_seconds)
    readiness = ReadinessProbe(
        resolver.status, settings.model_root, settings.models, settings.ready_timeout_seconds
    )

    app = GatewayFlask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.url_map.converters["model"] = ModelNameConverter
    app.extensions[EXTENSION] = GatewayState(
        settings=settings,
        backend=backend,
        dataplane=DataPlane(instrumented, resolver),
        readiness=readiness,
    )

    observability.install(app)

    if settings.api_keys:  # frozen settings: without keys the check would always pass

        @app.before_request
        def _authenticate() -> None:
            auth.check(request, settings.api_keys)

    _register_error_handlers(app, settings)

    from serving.gateway import ui
    from serving.gateway.routes import catalog, ops, v1, v2

    app.register_blueprint(v1.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(catalog.bp)
    app.register_blueprint(ui.bp)
    return app


def default_backend(settings: Settings) -> Backend:
    """The production backend: TF Serving's gRPC API (channel opened lazily, per process)."""
    from serving.gateway.grpc_client import TFServingClient

    return TFServingClient(
        settings.backend_address,
        deadline_seconds=settings.deadline_seconds,
        retries=settings.retries,
    )


def _register_error_handlers(app: Flask, settings: Settings) -> None:
    @app.errorhandler(GatewayError)
    def _gateway_error(exc: GatewayError):
        headers = {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="modelserve"'
        if exc.status_code >= 500:
            log.warning(
                "%s: %s", type(exc).__name__, exc.message,
                extra={"request_id": observability.request_id(), "status": exc.status_code},
            )
        return json_response({"error": exc.message}, exc.status_code, headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return json_response({"error": _http_message(exc, settings)}, code, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        rid = observability.request_id()
        log.exception("unexpected error", extra={"request_id": rid})
        return json_response({"error": f"internal error (request id {rid})"}, 500)


def _http_message(exc: HTTPException, settings: Settings) -> str:
    path = request.path if len(request.path) <= 200 else request.path[:197] + "..."
    if isinstance(exc, RequestEntityTooLarge):
        return f"request body is larger than the limit of {settings.max_body_bytes} bytes"
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(m for m in exc.valid_methods or () if m not in ("HEAD", "OPTIONS")))
        return f"method {request.method} is not allowed on {path}; allowed: {allowed}"
    if exc.code == 404:
        return f"no such endpoint: {request.method} {path}"
    return f"{exc.name.lower()}"
