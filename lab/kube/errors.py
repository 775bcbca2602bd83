"""API errors of the emulated Kubernetes API server, each convertible to a `Status` object."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API server answers with a `Status` body and an HTTP code."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, code: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason

    def status(self) -> dict[str, Any]:
        """Return the `Status` object a real API server sends for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(resource: str, name: str | None, group: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"kind": resource}
    if name is not None:
        d["name"] = name
    if group:
        d["group"] = group
    return d


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"

    @classmethod
    def of(cls, resource: str, name: str, group: str = "") -> "NotFound":
        qual = f"{resource}.{group}" if group else resource
        return cls(f'{qual} "{name}" not found', details=_details(resource, name, group))


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"

    @classmethod
    def of(cls, resource: str, name: str, group: str = "") -> "AlreadyExists":
        qual = f"{resource}.{group}" if group else resource
        return cls(f'{qual} "{name}" already exists', details=_details(resource, name, group))


class Conflict(ApiError):
    code, reason = 409, "Conflict"

    @classmethod
    def stale(cls, resource: str, name: str, group: str = "") -> "Conflict":
        qual = f"{resource}.{group}" if group else resource
        return cls(
            f'Operation cannot be fulfilled on {qual} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            details=_details(resource, name, group),
        )


class Gone(ApiError):
    code, reason = 410, "Expired"


class Invalid(ApiError):
    code, reason = 422, "Invalid"

    @classmethod
    def of(cls, kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> "Invalid":
        """`causes` is a list of (field path, message) pairs, as the real server reports them."""
        text = "; ".join(f"{field}: {msg}" for field, msg in causes)
        qual = f"{kind}.{group}" if group else kind
        details = _details(kind, name, group)
        details["causes"] = [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes]
        return cls(f'{qual} "{name}" is invalid: {text}', details=details)


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class TooManyRequests(ApiError):
    code, reason = 429, "TooManyRequests"
