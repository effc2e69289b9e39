"""One error hierarchy for the whole service.

Every door translates these, once, into its own wire format (problem+json, a vendor's
error envelope, a CLI exit code). Messages never contain personal data or secrets: they
name the field and what is wrong with it, not the offending value.
"""

from dataclasses import dataclass

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "FieldError",
    "Forbidden",
    "InvalidInput",
    "InvalidLinkToken",
    "NotFound",
    "OptledgerError",
    "Unavailable",
]


class OptledgerError(Exception):
    """Base of every error the domain and services raise on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(OptledgerError):
    """The named thing does not exist in this tenant (or at all)."""

    code = "not_found"

    def __init__(self, *, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} was not found")
        self.kind = kind
        self.key = key


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field: `field` is a dotted path, `reason` plain words."""

    field: str
    reason: str


class InvalidInput(OptledgerError):
    """The input is malformed or violates a rule; `errors` lists every field at fault."""

    code = "invalid"

    def __init__(self, *errors: FieldError) -> None:
        if not errors:
            raise ValueError("InvalidInput needs at least one FieldError")
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors

    @classmethod
    def of(cls, field: str, reason: str) -> "InvalidInput":
        return cls(FieldError(field=field, reason=reason))


class Conflict(OptledgerError):
    """The request contradicts the current state (a duplicate name, a closed request)."""

    code = "conflict"


class Forbidden(OptledgerError):
    """The caller is known but may not do this."""

    code = "forbidden"


class AuthenticationFailed(OptledgerError):
    """No credential, or one that is unknown, malformed or revoked."""

    code = "unauthenticated"

    def __init__(self) -> None:
        super().__init__("missing or invalid credentials")


class InvalidLinkToken(OptledgerError):
    """An unsubscribe-link token that cannot be used.

    Tampered, truncated, expired, revoked or another tenant's: the reason is deliberately
    not told, so the error gives no oracle to someone forging tokens.
    """

    code = "invalid_link"

    def __init__(self) -> None:
        super().__init__("this link is not valid")


class Unavailable(OptledgerError):
    """The write could not be stored now: the database stayed busy past the wait allowed,
    or could not be reached. Sending the same request again after `retry_after` seconds is
    safe (an opt-out repeated is recorded as `repeated`; with an idempotency key, a stored
    first answer is replayed).

    It is never raised for contention that ends within the wait: a writer waits for a lock
    held by another process rather than failing.
    """

    code = "unavailable"

    def __init__(
        self,
        message: str = "the database is busy or unreachable; send the request again",
        *,
        retry_after: int = 1,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
