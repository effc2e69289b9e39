"""The checks every schemathesis run over the API applies: the CI gate
(tests/functional/rest/test_schemathesis.py) and the long run (bench/schemathesis_long.py)
alike, with the statuses the API documents for negative and positive data."""

from typing import Any, Final

__all__ = ["CHECKS", "CHECK_SETTINGS"]

CHECKS: Final = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)

CHECK_SETTINGS: Final[dict[str, Any]] = {
    **{name: {"enabled": True} for name in CHECKS},
    # 413 is how the API rejects a body over 1 MiB, e.g. 10,001 long addresses for
    # `POST /v1/checks`, and 431 how it rejects a query string over the header cap
    # (32 KiB of request target and header fields); 5xx and 429 (in the default list)
    # do not count as rejection.
    "negative_data_rejection": {
        "enabled": True,
        "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 431],
    },
    # Schema-valid is not always valid: docs/api.md answers 422 for an address that
    # is not a phone number, an unknown topic or link token, a cursor not made by the
    # list, a target naming two of address/contact/message_uid, and an
    # Idempotency-Key reused for another request. So 422 is accepted; 5xx, 3xx and
    # 429 (in the default list) are not, nor 400, 413 or 415.
    "positive_data_acceptance": {
        "enabled": True,
        "expected-statuses": ["2xx", 401, 403, 404, 409, 422],
    },
}
