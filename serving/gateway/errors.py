"""The gateway's one error hierarchy. Each error carries its HTTP status; the app maps
them to JSON bodies in one place (`serving.gateway.app`). Messages are written for the
client: they name the offending field and never carry a stack trace or gRPC text."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: an error with an HTTP status and a client-safe message."""

    status_code = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(GatewayError):
    """The request is malformed or invalid (name the field in the message)."""

    status_code = 400


class Unauthorized(GatewayError):
    """An API key is configured and the request's is missing or wrong."""

    status_code = 401


class NotFound(GatewayError):
    """Unknown model, version or route."""

    status_code = 404


class MethodNotAllowed(GatewayError):
    status_code = 405


class PayloadTooLarge(GatewayError):
    status_code = 413


class UnsupportedMediaType(GatewayError):
    status_code = 415


class ServiceUnavailable(GatewayError):
    """The gateway itself cannot serve the request now (e.g. a version's metadata is unreadable)."""

    status_code = 503


class BackendError(GatewayError):
    """Base for failures of the model server behind the gateway."""

    status_code = 502


class BackendBadResponse(BackendError):
    """The backend answered something the gateway cannot decode (wrong shape, labels)."""

    status_code = 502


class BackendUnavailable(BackendError):
    """The backend cannot be reached, or has no version of the model available."""

    status_code = 503


class BackendDeadline(BackendError):
    """The backend did not answer within the deadline."""

    status_code = 504


class BackendNotFound(NotFound):
    """The backend does not know the model or version (gRPC NOT_FOUND)."""


class BackendInvalidArgument(BadRequest):
    """The backend refused the inputs (gRPC INVALID_ARGUMENT)."""
