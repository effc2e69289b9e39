"""Readers of import files: bytes in, numbered records or row errors out, never a crash.

Every door (the CLI's file, the REST body, any later one) hands the same readers the raw
bytes, in chunks of any size, so the rules below hold on every path. A reader reports a
bad row as a `RowError` (line number, field, reason) and goes on with the next; a problem
with the file as a whole (an encoding it is not in, a bad CSV header) is `InvalidInput`
naming `line 1`. No other exception comes out of a reader, except those the chunks
themselves raise (a body over its size cap, a lost connection), which pass through.
Reasons never quote the offending value: it may be personal data.

Lines: physical lines end at LF, CRLF or a lone CR (Excel's "CSV (Macintosh)"), mixed
freely; they are numbered from 1 as a text editor numbers them. A UTF-8 byte order mark
at the start is skipped. A file that starts with a UTF-16 or UTF-32 byte order mark is
refused as a whole, with a message saying so.

Bounds, so memory stays bounded whatever arrives: a row (a CSV record, with every line
of a quoted field that spans lines, or an NDJSON line) is at most `MAX_ROW_BYTES`. A
longer line is not kept: its bytes are dropped as they arrive, and it is reported once
(`is longer than 65536 bytes`). A line that contains a NUL byte, or bytes that are not
UTF-8, is reported as a bad row.

CSV (RFC 4180, leniently): the first line is the header; its delimiter (comma,
semicolon or tab) is the one it contains most. A field that starts with `"` (after
optional spaces) is quoted: it ends at the next lone `"`, `""` stands for one quote, and
it may span lines. A `"` inside a field that does not start with one is kept as it is.
Text after a closing quote other than spaces and the delimiter is an error, and so is a
quote that is not closed by the end of the file or within `MAX_ROW_BYTES`: reading goes
on after the last line the open field took in, and the error's reason says where that
was. Blank rows are skipped; a row needs as many fields as the header.

NDJSON: each non-blank line is one JSON object whose keys are the import's field names
and whose values are strings or null. Numbers are never converted (a 5,000-digit number
is just "not a string"), nesting too deep for the parser is reported, and a key given
twice is refused rather than silently decided.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from optledger.domain.errors import InvalidInput

__all__ = [
    "ADDRESS_FIELDS_REASON",
    "FIELDS",
    "MAX_ROW_BYTES",
    "Record",
    "RowError",
    "read_csv",
    "read_ndjson",
]

MAX_ROW_BYTES: Final = 64 * 1024
FIELDS: Final = frozenset({"email", "phone", "channel", "address", "topic", "reason", "timestamp"})
"""The names a row may give a value for (CSV columns, NDJSON keys)."""
ADDRESS_FIELDS_REASON: Final = "needs 'email' or 'phone', or 'channel' and 'address'"

_DELIMITERS: Final = (",", ";", "\t")
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_WIDE_BOMS: Final = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_TOO_LONG: Final = f"is longer than {MAX_ROW_BYTES} bytes"
_NUL: Final = "contains a NUL character"
_NOT_UTF8: Final = "is not UTF-8 text"
_NAMEABLE_KEY_LENGTH: Final = 32


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row: its first line, the field at fault (`row` for the row as a whole,
    `header` for a CSV header) and what is wrong."""

    line: int
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Record:
    """One row as read: its first line and its values by field name (CSV columns the
    import does not know are dropped; NDJSON nulls are absent)."""

    line: int
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str
    """Without its line end; empty when `problem` is set."""
    size: int
    """Bytes, with the line end."""
    problem: str | None = None


def _physical_lines(chunks: Iterable[bytes]) -> Iterator[_Line]:
    """The lines of the byte stream, numbered, each decoded on its own (so one bad line
    does not spoil the rest), never holding more than `MAX_ROW_BYTES` plus one chunk."""
    number = 0
    pending = b""
    """The start of a line whose end has not arrived (or that ends in CR: LF may follow)."""
    dropped = 0
    """Bytes already dropped of a line that is too long; 0 when none is."""
    for chunk in chunks:
        if not chunk:
            continue
        parts = (pending + chunk).splitlines(keepends=True)
        pending = b"" if parts[-1].endswith(b"\n") else parts.pop()
        for part in parts:
            number += 1
            if dropped:
                yield _Line(number, "", dropped + len(part), _TOO_LONG)
                dropped = 0
            else:
                yield _decoded(number, part)
        if len(pending) > MAX_ROW_BYTES:
            # Keep a final CR: it and a LF at the start of the next chunk end the line.
            kept = b"\r" if pending.endswith(b"\r") else b""
            dropped += len(pending) - len(kept)
            pending = kept
    if pending or dropped:
        number += 1
        yield (
            _Line(number, "", dropped + len(pending), _TOO_LONG)
            if dropped
            else _decoded(number, pending)
        )


def _decoded(number: int, raw: bytes) -> _Line:
    size = len(raw)
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith((b"\n", b"\r")):
        raw = raw[:-1]
    if size > MAX_ROW_BYTES:
        return _Line(number, "", size, _TOO_LONG)
    if number == 1:
        raw = _without_bom(raw)
    if b"\x00" in raw:
        return _Line(number, "", size, _NUL)
    try:
        return _Line(number, raw.decode("utf-8"), size)
    except UnicodeDecodeError:
        return _Line(number, "", size, _NOT_UTF8)


def _without_bom(raw: bytes) -> bytes:
    """The first line without a UTF-8 byte order mark; InvalidInput for a wider one."""
    for mark, encoding in _WIDE_BOMS:
        if raw.startswith(mark):
            raise InvalidInput.of(
                "line 1",
                f"the file is {encoding} text (it starts with a {encoding} byte order mark); "
                "save it as UTF-8",
            )
    return raw.removeprefix(_UTF8_BOM)


# --- CSV ---------------------------------------------------------------------------------


def read_csv(chunks: Iterable[bytes]) -> Iterator[Record | RowError]:
    """The rows of a CSV file (see the module docstring). Raises InvalidInput, naming
    `line 1: header`, when the header is unusable: then no row can be read."""
    lines = _physical_lines(chunks)
    first = next(lines, None)
    header = _header(first)
    delimiter = _delimiter(first.text if first else "")
    for item in _csv_records(lines, delimiter=delimiter):
        if isinstance(item, RowError):
            yield item
            continue
        start, end, fields = item
        if not any(value.strip() for value in fields):
            continue
        if len(fields) != len(header):
            reason = f"has {len(fields)} fields, the header has {len(header)}"
            if end > start:
                reason += f" (a quoted field takes it from line {start} to line {end})"
            yield RowError(start, "row", reason)
            continue
        values = {name: value for name, value in zip(header, fields, strict=True) if name}
        yield Record(start, values)


def _header(line: _Line | None) -> list[str]:
    """The header's column names, lower-cased; a column the import does not know is ""."""
    if line is not None and line.problem:
        raise InvalidInput.of("line 1: header", line.problem)
    text = line.text if line else ""
    try:
        fields = _csv_fields(text, delimiter=_delimiter(text))
    except _Malformed as bad:
        raise InvalidInput.of("line 1: header", bad.reason) from None
    if fields is None:
        raise InvalidInput.of("line 1: header", "has a quote that is not closed")
    columns = [name.strip().lower() for name in fields]
    if not ("email" in columns or "phone" in columns or {"channel", "address"} <= set(columns)):
        raise InvalidInput.of(
            "line 1: header", "needs an 'email' or 'phone' column, or 'channel' and 'address'"
        )
    known = [name for name in columns if name in FIELDS]
    if len(set(known)) != len(known):
        raise InvalidInput.of("line 1: header", "names a column twice")
    return [name if name in FIELDS else "" for name in columns]


def _delimiter(header: str) -> str:
    return max(_DELIMITERS, key=header.count)


class _Malformed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _OpenRecord:
    """A record whose quoted field goes on past the end of its line."""

    start: int
    end: int
    fields: list[str]
    quoted: list[str]
    size: int


def _csv_records(
    lines: Iterator[_Line], *, delimiter: str
) -> Iterator[tuple[int, int, list[str]] | RowError]:
    """(first line, last line, fields) of each record, or the error that ended it."""
    open_record: _OpenRecord | None = None
    for line in lines:
        if open_record is None:
            if line.problem:
                yield RowError(line.number, "row", line.problem)
                continue
            fields: list[str] = []
            try:
                quoted = _scan(line.text, delimiter, fields, None)
            except _Malformed as bad:
                yield RowError(line.number, "row", bad.reason)
                continue
            if quoted is None:
                yield line.number, line.number, fields
            else:
                open_record = _OpenRecord(line.number, line.number, fields, quoted, line.size)
            continue
        record = open_record
        record.end = line.number
        record.size += line.size
        if line.problem:
            open_record = None
            reason = f"has a quoted field that runs into line {line.number}, which {line.problem}"
            yield RowError(record.start, "row", reason)
            continue
        if record.size > MAX_ROW_BYTES:
            open_record = None
            reason = (
                f"has a quote that is not closed within {MAX_ROW_BYTES} bytes "
                f"(reading goes on after line {line.number})"
            )
            yield RowError(record.start, "row", reason)
            continue
        try:
            quoted = _scan(line.text, delimiter, record.fields, record.quoted)
        except _Malformed as bad:
            open_record = None
            yield RowError(record.start, "row", f"{bad.reason} on line {line.number}")
            continue
        if quoted is None:
            open_record = None
            yield record.start, record.end, record.fields
    if open_record is not None:
        yield RowError(
            open_record.start,
            "row",
            f"has a quote that is not closed by the end of the file (line {open_record.end})",
        )


def _csv_fields(text: str, *, delimiter: str) -> list[str] | None:
    """The fields of one line; None if a quoted field goes on past its end."""
    fields: list[str] = []
    return fields if _scan(text, delimiter, fields, None) is None else None


def _scan(
    text: str, delimiter: str, fields: list[str], quoted: list[str] | None
) -> list[str] | None:
    """Append the fields of one physical line to `fields`.

    `quoted` holds the pieces of a quoted field left open by the line before (None if
    there is none). Returns the pieces of a quoted field still open at the end of this
    line (the record goes on), or None when the record is complete. Raises _Malformed.
    """
    if quoted is None and '"' not in text:
        fields.extend(text.split(delimiter))
        return None
    position = 0
    end = len(text)
    while True:
        if quoted is None:
            start = position
            while start < end and text[start] == " ":
                start += 1
            if start < end and text[start] == '"':
                quoted = []
                position = start + 1
            else:
                found = text.find(delimiter, position)
                if found < 0:
                    fields.append(text[position:])
                    return None
                fields.append(text[position:found])
                position = found + 1
                continue
        closing = text.find('"', position)
        if closing < 0:
            quoted.append(text[position:])
            quoted.append("\n")
            return quoted
        quoted.append(text[position:closing])
        if text.startswith('"', closing + 1):
            quoted.append('"')
            position = closing + 2
            continue
        fields.append("".join(quoted))
        quoted = None
        position = closing + 1
        while position < end and text[position] == " ":
            position += 1
        if position == end:
            return None
        if text[position] != delimiter:
            raise _Malformed("has text after the closing quote of a field")
        position += 1


# --- NDJSON ------------------------------------------------------------------------------


class _Number:
    """Stands for any JSON number or NaN/Infinity, which the import never accepts."""


_NUMBER: Final = _Number()


class _DuplicatedKeys(dict[str, object]):
    """A JSON object that gave a key more than once."""


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    value = dict(pairs)
    return value if len(value) == len(pairs) else _DuplicatedKeys(value)


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_int=lambda _text: _NUMBER,
    parse_float=lambda _text: _NUMBER,
    parse_constant=lambda _text: _NUMBER,
)


def read_ndjson(chunks: Iterable[bytes]) -> Iterator[Record | RowError]:
    """The rows of an NDJSON file (see the module docstring)."""
    for line in _physical_lines(chunks):
        if line.problem:
            yield RowError(line.number, "row", line.problem)
        elif line.text.strip():
            yield _ndjson_record(line)


def _ndjson_record(line: _Line) -> Record | RowError:
    number = line.number
    try:
        value = _DECODER.decode(line.text)
    except RecursionError:
        return RowError(number, "row", "is nested too deeply")
    except ValueError:
        return RowError(number, "row", "is not valid JSON")
    if not isinstance(value, dict):
        return RowError(number, "row", "is not a JSON object")
    if isinstance(value, _DuplicatedKeys):
        return RowError(number, "row", "gives a field more than once")
    values: dict[str, str] = {}
    for key, item in value.items():
        if key not in FIELDS:
            return RowError(number, _key_name(key), "is not a known field")
        if item is None:
            continue
        if not isinstance(item, str):
            return RowError(number, key, "must be a string or null")
        if "\x00" in item:
            return RowError(number, key, _NUL)
        if not _is_unicode(item):
            return RowError(number, key, "is not valid Unicode text (it has a lone surrogate)")
        values[key] = item
    if not ("email" in values or "phone" in values or {"channel", "address"} <= set(values)):
        return RowError(number, "row", ADDRESS_FIELDS_REASON)
    return Record(number, values)


def _key_name(key: str) -> str:
    """How an unknown key is named in an error: as it is when it looks like a field name,
    else `row` (a key may be anything, an address too, and is never echoed then)."""
    plain = key.isascii() and key.replace("_", "").isalnum()
    return key if plain and len(key) <= _NAMEABLE_KEY_LENGTH else "row"


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
