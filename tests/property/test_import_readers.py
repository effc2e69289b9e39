"""Random bytes and near-CSV / near-NDJSON text never crash the import readers.

Whatever they are fed, in whatever chunks, the readers yield records and row errors with
line numbers inside the input, or raise InvalidInput naming `line 1`: nothing else.
"""

import json
import re
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from optledger.domain.errors import InvalidInput
from optledger.services.import_files import FIELDS, Record, RowError, read_csv, read_ndjson

READERS = {"csv": read_csv, "ndjson": read_ndjson}
FIELD_OF_A_FILE_ERROR = re.compile(r"line 1(: header)?")

csv_pieces = st.sampled_from(
    [
        "email",
        "phone",
        "channel",
        "address",
        "reason",
        "timestamp",
        "topic",
        ",",
        ";",
        "\t",
        '"',
        '""',
        " ",
        "\n",
        "\r",
        "\r\n",
        "\x00",
        "a@example.com",
        "+14155550100",
        "2026-01-01T00:00:00Z",
        "\ufeff",
        "é",
        "\ud800",
    ]
)
ndjson_pieces = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        '"email"',
        '"phone"',
        '"reason"',
        '"x"',
        ":",
        ",",
        "null",
        "1e999",
        "-0",
        "NaN",
        "true",
        '"\\u0000"',
        '"\\ud800"',
        '"a@example.com"',
        "\n",
        "\r",
        " ",
        "\\",
        '"',
    ]
)


def text_bytes(pieces: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    return st.lists(pieces, max_size=60).map(
        lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
    )


lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
any_text = st.text(st.characters() | lone_surrogates | st.just("\x00"), max_size=12)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), any_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
ndjson_lines = st.lists(
    st.dictionaries(
        st.sampled_from(sorted(FIELDS)) | any_text,
        st.one_of(st.none(), any_text, st.just("a@example.com"), json_values),
        max_size=4,
    ).map(lambda value: json.dumps(value, ensure_ascii=True))
    | st.fixed_dictionaries(
        {"email": st.just("a@example.com") | any_text},
        optional=dict.fromkeys(["reason", "topic", "timestamp", "phone"], any_text | st.none()),
    ).map(lambda value: json.dumps(value, ensure_ascii=True))
    | json_values.map(json.dumps),
    max_size=6,
).map(lambda lines: "\n".join(lines).encode())
csv_fields = st.one_of(
    any_text.map(lambda text: text.replace('"', "")),
    any_text.map(lambda text: '"' + text.replace('"', '""') + '"'),
    st.sampled_from(["a@example.com", "+14155550100", '"', ""]),
)
csv_files = st.tuples(
    st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=4),
    st.lists(st.lists(csv_fields, max_size=5), max_size=6),
    st.sampled_from(["\n", "\r\n", "\r"]),
).map(
    lambda parts: (
        parts[2]
        .join([",".join(parts[0]), *(",".join(row) for row in parts[1])])
        .encode("utf-8", "surrogatepass")
    )
)
inputs = st.one_of(
    st.binary(max_size=400),
    text_bytes(csv_pieces),
    text_bytes(ndjson_pieces),
    ndjson_lines,
    csv_files,
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


def read_all(reader_name: str, chunks: list[bytes]) -> list[Record | RowError] | InvalidInput:
    try:
        return list(READERS[reader_name](chunks))
    except InvalidInput as error:
        return error


@settings(max_examples=1_500, deadline=None)
@given(
    reader_name=st.sampled_from(sorted(READERS)),
    data=inputs,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_readers_only_yield_numbered_rows_or_refuse_the_file(reader_name, data, cuts):
    whole = read_all(reader_name, [data])
    lines = max(1, len(data.splitlines()))

    if isinstance(whole, InvalidInput):
        assert [FIELD_OF_A_FILE_ERROR.fullmatch(e.field) is not None for e in whole.errors] == [
            True
        ]
    else:
        numbers = [item.line for item in whole]
        assert numbers == sorted(set(numbers))
        assert all(1 <= n <= lines for n in numbers)
        for item in whole:
            if isinstance(item, Record):
                assert set(item.values) <= FIELDS
                for value in item.values.values():
                    assert "\x00" not in value
                    value.encode("utf-8")  # storable: no lone surrogates
            else:
                # `row`, a known field, or an unknown key short and plain enough to name
                assert re.fullmatch(r"[A-Za-z0-9_]{1,32}", item.field)
                assert item.reason
    # The same bytes in other chunks read the same.
    chunked = read_all(reader_name, split(data, cuts))
    if isinstance(whole, InvalidInput):
        assert isinstance(chunked, InvalidInput)
        assert chunked.errors == whole.errors
    else:
        assert chunked == whole
