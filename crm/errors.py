"""Domain errors that services raise and views turn into pages or JSON errors."""


class DomainError(Exception):
    """Base class: `code` names the error in the API, `status` is its HTTP status."""

    code = "error"
    status = 400

    def __init__(self, message: str = "", fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    code, status = "not_found", 404


class Forbidden(DomainError):
    code, status = "forbidden", 403


class Conflict(DomainError):
    """A stale version, a duplicate key, or a record someone else holds."""

    code, status = "conflict", 409


class Invalid(DomainError):
    """Field values that break a rule; `fields` maps each field to its messages."""

    code, status = "validation_error", 422


class Throttled(DomainError):
    code, status = "too_many_requests", 429
