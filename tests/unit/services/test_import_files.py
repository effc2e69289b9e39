"""The import readers on bad and odd files: exact rows, exact errors, any chunking."""

import json
import tracemalloc

import pytest

from optledger.domain.errors import FieldError, InvalidInput
from optledger.services.import_files import (
    MAX_ROW_BYTES,
    Record,
    RowError,
    read_csv,
    read_ndjson,
)


def csv_rows(data: bytes, *, chunk: int | None = None) -> list[Record | RowError]:
    return list(read_csv(chunks(data, chunk)))


def ndjson_rows(data: bytes, *, chunk: int | None = None) -> list[Record | RowError]:
    return list(read_ndjson(chunks(data, chunk)))


def chunks(data: bytes, size: int | None) -> list[bytes]:
    if size is None:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


def header_error(data: bytes) -> tuple[FieldError, ...]:
    with pytest.raises(InvalidInput) as caught:
        csv_rows(data)
    return caught.value.errors


GOOD = [
    Record(2, {"email": "ann@example.com", "reason": "moved"}),
    Record(3, {"email": "bob@example.com", "reason": ""}),
]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_every_line_ending_reads_the_same(end):
    data = end.join([b"email,reason", b"ann@example.com,moved", b"bob@example.com,", b""])
    assert csv_rows(data) == GOOD


def test_mixed_line_endings_and_a_missing_last_one():
    assert csv_rows(b"email,reason\r\nann@example.com,moved\rbob@example.com,") == GOOD


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_chunks_of_any_size_read_the_same(size):
    data = b'\xef\xbb\xbfemail,reason\r\n"ann@example.com","mo\r\nved"\r\nb\xc3\xb6b@example.com,\r'
    expected = [
        Record(2, {"email": "ann@example.com", "reason": "mo\nved"}),
        Record(4, {"email": "böb@example.com", "reason": ""}),
    ]
    assert csv_rows(data) == expected
    assert csv_rows(data, chunk=size) == expected


def test_a_utf8_bom_is_skipped_and_columns_are_case_insensitive():
    assert csv_rows(b"\xef\xbb\xbfEmail , REASON\nann@example.com,moved\n") == [
        Record(2, {"email": "ann@example.com", "reason": "moved"})
    ]


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
    ],
)
def test_a_utf16_or_utf32_bom_refuses_the_file(bom, encoding):
    reason = (
        f"the file is {encoding} text (it starts with a {encoding} byte order mark); "
        "save it as UTF-8"
    )
    data = bom + "email\nann@example.com\n".encode("utf-16-le")
    assert header_error(data) == (FieldError("line 1", reason),)
    with pytest.raises(InvalidInput) as caught:
        ndjson_rows(bom + b'{"email": "a@example.com"}\n')
    assert caught.value.errors == (FieldError("line 1", reason),)


def test_semicolon_and_tab_delimiters():
    assert csv_rows(b"email;reason\nann@example.com;a,b\n") == [
        Record(2, {"email": "ann@example.com", "reason": "a,b"})
    ]
    assert csv_rows(b"email\treason\nann@example.com\tx\n") == [
        Record(2, {"email": "ann@example.com", "reason": "x"})
    ]


def test_quoted_fields_doubled_quotes_spaces_and_a_quote_inside_a_field():
    data = (
        b"email,reason,note\n"
        b'"ann@example.com" , "said ""stop""",x\n'
        b'bob@example.com,5" screen,"a\n\nb"\n'
        b'"carl@example.com",,\n'
    )
    assert csv_rows(data) == [
        Record(2, {"email": "ann@example.com", "reason": 'said "stop"'}),
        Record(3, {"email": "bob@example.com", "reason": '5" screen'}),
        Record(6, {"email": "carl@example.com", "reason": ""}),
    ]


def test_blank_rows_are_skipped_and_unknown_columns_dropped():
    assert csv_rows(b"email,note,note\n\n , \nann@example.com,x,y\n,,\n") == [
        Record(4, {"email": "ann@example.com"})
    ]


def test_stray_and_unclosed_quotes_name_the_row_and_reading_goes_on():
    data = (
        b"email,reason\n"
        b'"ann@example.com"x,moved\n'  # text after a closing quote
        b"bob@example.com,fine\n"
        b'"carl@example.com,oops\n'  # opens a field that the next quote closes
        b'dora@example.com,"x\n'
        b"erin@example.com,ok\n"
        b'"fred@example.com,never closed\n'
        b"gina@example.com,after\n"
    )
    assert csv_rows(data) == [
        RowError(2, "row", "has text after the closing quote of a field"),
        Record(3, {"email": "bob@example.com", "reason": "fine"}),
        RowError(4, "row", "has text after the closing quote of a field on line 5"),
        Record(6, {"email": "erin@example.com", "reason": "ok"}),
        RowError(7, "row", "has a quote that is not closed by the end of the file (line 8)"),
    ]


def test_a_quoted_field_that_makes_the_row_too_wide_says_where_it_ran():
    data = b'email,reason\n"ann@example.com,moved\nbob@example.com",x,y\ncarl@example.com,z\n'
    assert csv_rows(data) == [
        RowError(
            2,
            "row",
            "has 3 fields, the header has 2 (a quoted field takes it from line 2 to line 3)",
        ),
        Record(4, {"email": "carl@example.com", "reason": "z"}),
    ]


def test_an_unclosed_quote_is_cut_off_at_the_row_limit():
    stray = b'"stray@example.com,x\n'
    filler = [b"user%d@example.com,x\n" % n for n in range(5_000)]
    rows = csv_rows(b"email,reason\n" + stray + b"".join(filler), chunk=4096)
    size, last_taken = len(stray), 2
    while size <= MAX_ROW_BYTES:
        size += len(filler[last_taken - 2])
        last_taken += 1
    first_good = last_taken + 1
    assert rows[0] == RowError(
        2,
        "row",
        f"has a quote that is not closed within {MAX_ROW_BYTES} bytes "
        f"(reading goes on after line {first_good - 1})",
    )
    assert isinstance(rows[1], Record)
    assert rows[1].line == first_good
    assert all(isinstance(row, Record) for row in rows[1:])


def test_rows_too_long_with_nul_bytes_or_not_utf8_are_reported_one_by_one():
    long_field = b"x" * (MAX_ROW_BYTES + 1)
    data = (
        b"email,reason\n"
        b"ann@example.com," + long_field + b"\n"
        b"bob@example.com,a\x00b\n"
        b"zo\xeb@example.com,latin-1\n"
        b"carl@example.com,fine\n"
        b"dora@example.com," + long_field
    )
    expected = [
        RowError(2, "row", f"is longer than {MAX_ROW_BYTES} bytes"),
        RowError(3, "row", "contains a NUL character"),
        RowError(4, "row", "is not UTF-8 text"),
        Record(5, {"email": "carl@example.com", "reason": "fine"}),
        RowError(6, "row", f"is longer than {MAX_ROW_BYTES} bytes"),
    ]
    assert csv_rows(data) == expected
    assert csv_rows(data, chunk=1000) == expected


def test_a_quoted_field_running_into_a_bad_line_names_both():
    data = b'email,reason\nann@example.com,"a\nb\x00c"\nbob@example.com,x\n'
    assert csv_rows(data) == [
        RowError(
            2, "row", "has a quoted field that runs into line 3, which contains a NUL character"
        ),
        Record(4, {"email": "bob@example.com", "reason": "x"}),
    ]


def test_an_overlong_line_is_dropped_as_it_arrives():
    """A 20 MB line without a line break is never held: at most the row limit and a chunk."""

    def chunk_stream():
        yield b"email\n"
        for _ in range(2_000):
            yield b"y" * 10_000
        yield b"\nann@example.com\n"

    tracemalloc.start()
    try:
        rows = list(read_csv(chunk_stream()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == [
        RowError(2, "row", f"is longer than {MAX_ROW_BYTES} bytes"),
        Record(3, {"email": "ann@example.com"}),
    ]
    assert peak < 4 * MAX_ROW_BYTES


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "needs an 'email' or 'phone' column, or 'channel' and 'address'"),
        (b"name,reason\nann,x\n", "needs an 'email' or 'phone' column, or 'channel' and 'address'"),
        (b"email,Email\n", "names a column twice"),
        (b'"email,reason\nann@example.com\n', "has a quote that is not closed"),
        (b'"email"x,reason\n', "has text after the closing quote of a field"),
        (b"em\x00ail\n", "contains a NUL character"),
        (b"\xe9mail,reason\n", "is not UTF-8 text"),
        (b"email," + b"x" * MAX_ROW_BYTES + b"\n", f"is longer than {MAX_ROW_BYTES} bytes"),
    ],
    ids=["empty", "no-address", "twice", "unclosed", "after-quote", "nul", "latin-1", "long"],
)
def test_a_bad_header_refuses_the_file(data, reason):
    assert header_error(data) == (FieldError("line 1: header", reason),)


def test_ndjson_rows_and_every_kind_of_bad_line():
    lines = [
        b'{"email": "ann@example.com", "topic": null, "reason": "moved"}',
        b"",
        b"   ",
        b'{"channel": "sms", "address": "+14155550100"}',
        b"not json",
        b'["email"]',
        b'"ann@example.com"',
        b'{"email": 5}',
        b'{"email": 1' + b"0" * 5_000 + b"}",
        b'{"email": NaN}',
        b'{"email": "a@example.com", "email": "b@example.com"}',
        b'{"email": {"nested": "x"}}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"fax": "1"}',
        b'{"ann@example.com": "1"}',
        b'{"email": "a\\u0000b@example.com"}',
        b'{"reason": "\\ud800", "email": "c@example.com"}',
        b'{"reason": "x"}',
        b'{"email": "d@example.com"}\x00',
        b'{"email": "z\xeb@example.com"}',
    ]
    assert ndjson_rows(b"\r\n".join(lines) + b"\n") == [
        Record(1, {"email": "ann@example.com", "reason": "moved"}),
        Record(4, {"channel": "sms", "address": "+14155550100"}),
        RowError(5, "row", "is not valid JSON"),
        RowError(6, "row", "is not a JSON object"),
        RowError(7, "row", "is not a JSON object"),
        RowError(8, "email", "must be a string or null"),
        RowError(9, "email", "must be a string or null"),
        RowError(10, "email", "must be a string or null"),
        RowError(11, "row", "gives a field more than once"),
        RowError(12, "email", "must be a string or null"),
        RowError(13, "row", f"is longer than {MAX_ROW_BYTES} bytes"),
        RowError(14, "fax", "is not a known field"),
        RowError(15, "row", "is not a known field"),
        RowError(16, "email", "contains a NUL character"),
        RowError(17, "reason", "is not valid Unicode text (it has a lone surrogate)"),
        RowError(18, "row", "needs 'email' or 'phone', or 'channel' and 'address'"),
        RowError(19, "row", "contains a NUL character"),
        RowError(20, "row", "is not UTF-8 text"),
    ]


def test_ndjson_nesting_too_deep_for_the_parser_is_a_row_error():
    deep = b"[" * 20_000 + b"]" * 20_000
    assert len(deep) < MAX_ROW_BYTES
    assert ndjson_rows(deep + b"\n" + json.dumps({"email": "a@example.com"}).encode()) == [
        RowError(1, "row", "is nested too deeply"),
        Record(2, {"email": "a@example.com"}),
    ]
