"""NGSI-LD error types (ETSI GS CIM 009, clause 5.5.2) as domain exceptions.

Services raise these; `api/problems.py` turns them into RFC 9457 problem details
in one place. The `type` of each problem is the NGSI-LD error URI.
"""

from __future__ import annotations

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """Base of all NGSI-LD errors; `title` names the error type, `status` its HTTP status."""

    title = "InternalError"
    status = 500

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + self.title

    def to_problem(self) -> dict[str, object]:
        return {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


class InvalidRequest(NgsiLdError):
    """The request is syntactically wrong (bad JSON, unknown parameter value, ...)."""

    title = "InvalidRequest"
    status = 400


class BadRequestData(NgsiLdError):
    """The request is well-formed JSON but its content breaks an NGSI-LD rule."""

    title = "BadRequestData"
    status = 400


class AlreadyExists(NgsiLdError):
    title = "AlreadyExists"
    status = 409


class OperationNotSupported(NgsiLdError):
    title = "OperationNotSupported"
    status = 422


class ResourceNotFound(NgsiLdError):
    title = "ResourceNotFound"
    status = 404


class TooComplexQuery(NgsiLdError):
    title = "TooComplexQuery"
    status = 403


class TooManyResults(NgsiLdError):
    title = "TooManyResults"
    status = 403


class LdContextNotAvailable(NgsiLdError):
    title = "LdContextNotAvailable"
    status = 503


class NonexistentTenant(NgsiLdError):
    title = "NonexistentTenant"
    status = 404


class InternalError(NgsiLdError):
    title = "InternalError"
    status = 500
