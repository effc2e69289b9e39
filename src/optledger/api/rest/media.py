"""The bodies the REST door reads: JSON (`application/json` or `application/*+json`),
in UTF-8, the only encoding JSON exchanged between systems may use (RFC 8259 section 8.1);
and the text bodies of imports and list checks, whose media type and charset it names.
"""

__all__ = ["declares_foreign_charset", "is_json", "media_type_and_charset"]

_UTF8 = frozenset({"utf-8", "utf8"})


def is_json(content_type: str) -> bool:
    """Whether the `Content-Type` value names a JSON media type."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def declares_foreign_charset(content_type: str) -> bool:
    """Whether the `Content-Type` value has a `charset` parameter other than UTF-8."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() not in _UTF8
    return False


def media_type_and_charset(content_type: str) -> tuple[str, str | None]:
    """The media type of a `Content-Type` value, and its charset parameter if any."""
    media_type, *parameters = content_type.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset
