"""Bad import files, each with the one error it must be refused with, for every door.

The CLI tests expect `field: reason` on stderr, the REST tests a 422 naming `field`.
"""

import pytest

from optledger.services.import_files import MAX_ROW_BYTES

LONG_FIELD = "x" * (128 * 1024 + 1)
"""Longer than the stdlib csv module's default field limit, which used to crash imports."""

BAD_CSV = [
    pytest.param(
        b'email\n"ann@example.com\nbob@example.com\n',
        "line 2: row",
        "has a quote that is not closed by the end of the file (line 3)",
        id="unclosed-quote",
    ),
    pytest.param(
        b'email,reason\n"ann"@example.com,x\nbob@example.com,y\n',
        "line 2: row",
        "has text after the closing quote of a field",
        id="stray-quote",
    ),
    pytest.param(
        b'email,reason\nann@example.com,"' + b"".join(b"line %d\n" % n for n in range(20_000)),
        "line 2: row",
        f"has a quote that is not closed within {MAX_ROW_BYTES} bytes "
        "(reading goes on after line 6664)",
        id="quoted-field-over-many-lines",
    ),
    pytest.param(
        f"email,reason\nann@example.com,{LONG_FIELD}\n".encode(),
        "line 2: row",
        f"is longer than {MAX_ROW_BYTES} bytes",
        id="field-over-128-KiB",
    ),
    pytest.param(
        b"email,reason\nann@example.com,a\x00b\n",
        "line 2: row",
        "contains a NUL character",
        id="nul",
    ),
    pytest.param(
        "email\nzoë@example.com\n".encode("latin-1"),
        "line 2: row",
        "is not UTF-8 text",
        id="latin-1",
    ),
    pytest.param(
        "email\tname\nann@example.com\tAnn\n".encode("utf-16"),
        "line 1",
        "the file is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8",
        id="utf-16",
    ),
    pytest.param(
        b"email,timestamp\nann@example.com,2999-01-01\n",
        "line 2: timestamp",
        "must not be more than a day in the future",
        id="far-future",
    ),
    pytest.param(
        b"email,timestamp\nann@example.com,1969-07-20T20:17:40Z\n",
        "line 2: timestamp",
        "must be after 1970-01-01T00:00:00Z",
        id="before-1970",
    ),
]

BAD_NDJSON = [
    pytest.param(
        b'{"email": "a@example.com"}\n' + b"[" * 30_000 + b"]" * 30_000 + b"\n",
        "line 2: row",
        "is nested too deeply",
        id="deep-nesting",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\n{"email": 1' + b"0" * 10_000 + b"}\n",
        "line 2: email",
        "must be a string or null",
        id="huge-number",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\n["a@example.com"]\n',
        "line 2: row",
        "is not a JSON object",
        id="not-an-object",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\n{"email": "b@example.com", "reason": "a\\u0000b"}\n',
        "line 2: reason",
        "contains a NUL character",
        id="nul-escape",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\n{"email": "b@example.com", "reason": "\\udc00"}\n',
        "line 2: reason",
        "is not valid Unicode text (it has a lone surrogate)",
        id="lone-surrogate",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\n{"email": "b@example.com", "email": "c@example.com"}\n',
        "line 2: row",
        "gives a field more than once",
        id="duplicate-key",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\n{"email": "b@example.com", "reason": "'
        + LONG_FIELD.encode()
        + b'"}\n',
        "line 2: row",
        f"is longer than {MAX_ROW_BYTES} bytes",
        id="line-over-128-KiB",
    ),
    pytest.param(
        '{"email": "a@example.com"}\n{"email": "zoë@example.com"}\n'.encode("latin-1"),
        "line 2: row",
        "is not UTF-8 text",
        id="latin-1",
    ),
    pytest.param(
        '{"email": "a@example.com"}\n'.encode("utf-16"),
        "line 1",
        "the file is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8",
        id="utf-16",
    ),
    pytest.param(
        b'{"email": "a@example.com"}\r{"email": "b@example.com", "timestamp": "2999-01-01"}\r',
        "line 2: timestamp",
        "must not be more than a day in the future",
        id="far-future-cr-only",
    ),
]
