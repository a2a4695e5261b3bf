"""Errors raised by the service's domain code, each with the HTTP status the API answers it with."""

from __future__ import annotations

__all__ = ["Conflict", "NotFound", "PayloadTooLarge", "ServiceError", "ServiceUnavailable", "Unauthorized"]


class ServiceError(Exception):
    """An error raised by the service itself, with its HTTP status."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class PayloadTooLarge(ServiceError):
    status_code = 413


class Unauthorized(ServiceError):
    status_code = 401


class ServiceUnavailable(ServiceError):
    status_code = 503
