"""The model server's one error type: a gRPC status code and TF Serving's message for it."""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """A request or load failed; `code` is the gRPC status the client receives."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def error_code(self) -> int:
        """The numeric code (TensorFlow's error codes are gRPC's), for StatusProto."""
        return self.code.value[0]


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def internal(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INTERNAL, message)
