import json

import pytest
from fastapi.testclient import TestClient

from optledger.api import create_app
from optledger.api.rest import suppressions
from tests.functional.rest.conftest import invalid, problem
from tests.import_cases import BAD_CSV, BAD_NDJSON

CSV = {"Content-Type": "text/csv"}
NDJSON = {"Content-Type": "application/x-ndjson"}
GOOD_AND_BAD = (
    "email,reason,timestamp\n"
    "ann@example.com,bounced,2024-03-01T10:00:00Z\n"
    "not-an-email,,\n"
    "bob@example.com,,yesterday\n"
)
HEADER = "channel,address,address_hash,reason,created_at"


def export(client, tenant, accept=None) -> list[str]:
    headers = {**tenant.admin, **({"Accept": accept} if accept else {})}
    response = client.get("/v1/suppressions", headers=headers)
    assert response.status_code == 200
    return response.text.splitlines()


def test_the_first_bad_row_refuses_the_whole_file(client, acme):
    response = client.post(
        "/v1/suppressions/import", content=GOOD_AND_BAD, headers={**acme.admin, **CSV}
    )

    assert (response.status_code, response.json()) == (
        422,
        invalid(
            ("line 3: email", "is not a valid email address: an email address must have an @-sign")
        ),
    )
    assert export(client, acme) == [HEADER]


@pytest.mark.parametrize(("content", "field", "reason"), BAD_CSV)
def test_each_kind_of_bad_csv_is_a_422_naming_its_line(client, acme, content, field, reason):
    response = client.post(
        "/v1/suppressions/import", content=content, headers={**acme.admin, **CSV}
    )

    assert (response.status_code, response.json()) == (422, invalid((field, reason)))
    assert export(client, acme) == [HEADER]


@pytest.mark.parametrize(("content", "field", "reason"), BAD_NDJSON)
def test_each_kind_of_bad_ndjson_is_a_422_naming_its_line(client, acme, content, field, reason):
    response = client.post(
        "/v1/suppressions/import", content=content, headers={**acme.admin, **NDJSON}
    )

    assert (response.status_code, response.json()) == (422, invalid((field, reason)))
    assert export(client, acme) == [HEADER]


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR-only"])
def test_any_line_ending_imports(client, acme, end):
    body = end.join([b"email,reason", b"ann@example.com,moved", b"bob@example.com,", b""])

    response = client.post("/v1/suppressions/import", content=body, headers={**acme.admin, **CSV})

    assert (response.status_code, response.json()) == (
        200,
        {"rows": 2, "changed": 2, "repeated": 0, "skipped": 0, "errors": [], "resumed": 0},
    )


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "iso-8859-1"])
def test_a_charset_other_than_utf8_is_refused(client, acme, charset):
    response = client.post(
        "/v1/suppressions/import",
        content="email\nann@example.com\n",
        headers={**acme.admin, "Content-Type": f"text/csv; charset={charset}"},
    )

    assert (response.status_code, response.json()) == (
        415,
        problem(415, "unsupported-media-type", "The body must be UTF-8 text."),
    )


def test_a_utf8_charset_is_accepted(client, acme):
    response = client.post(
        "/v1/suppressions/import",
        content="email\nann@example.com\n",
        headers={**acme.admin, "Content-Type": 'text/csv; charset="UTF-8"'},
    )

    assert response.json() == {
        "rows": 1,
        "changed": 1,
        "repeated": 0,
        "skipped": 0,
        "errors": [],
        "resumed": 0,
    }


def test_skip_invalid_imports_the_good_rows(client, acme):
    response = client.post(
        "/v1/suppressions/import",
        params={"skip_invalid": "true"},
        content=GOOD_AND_BAD,
        headers={**acme.admin, **CSV},
    )

    assert (response.status_code, response.json()) == (
        200,
        {
            "rows": 3,
            "changed": 1,
            "repeated": 0,
            "skipped": 2,
            "resumed": 0,
            "errors": [
                {
                    "line": 3,
                    "field": "email",
                    "reason": "is not a valid email address: an email address must have an @-sign",
                },
                {"line": 4, "field": "timestamp", "reason": "is not an ISO 8601 date or time"},
            ],
        },
    )
    (row,) = export(client, acme)[1:]
    assert row.startswith("email,ann@example.com,")
    assert row.endswith(",bounced,2024-03-01T10:00:00+00:00")


def test_ndjson_import_and_both_export_formats(client, acme):
    lines = [
        {
            "email": "Ann@Example.com",
            "reason": "complaint",
            "timestamp": "2024-03-01T10:00:00+00:00",
        },
        {"channel": "sms", "address": "+14155550100", "topic": None},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n\n"

    response = client.post(
        "/v1/suppressions/import", content=body, headers={**acme.admin, **NDJSON}
    )
    csv_rows = export(client, acme)
    ndjson_rows = [json.loads(line) for line in export(client, acme, "application/x-ndjson")]

    assert response.json() == {
        "rows": 2,
        "changed": 2,
        "repeated": 0,
        "skipped": 0,
        "errors": [],
        "resumed": 0,
    }
    hashes = {row["address"]: row["address_hash"] for row in ndjson_rows}
    assert sorted(ndjson_rows, key=lambda r: r["channel"]) == [
        {
            "channel": "email",
            "address": "ann@example.com",
            "address_hash": hashes["ann@example.com"],
            "reason": "complaint",
            "created_at": "2024-03-01T10:00:00+00:00",
        },
        {
            "channel": "sms",
            "address": "+14155550100",
            "address_hash": hashes["+14155550100"],
            "reason": "imported",
            "created_at": "2026-01-05T09:30:00+00:00",
        },
    ]
    assert sorted(csv_rows) == sorted(
        [
            HEADER,
            f"email,ann@example.com,{hashes['ann@example.com']},complaint,2024-03-01T10:00:00+00:00",
            f"sms,+14155550100,{hashes['+14155550100']},imported,2026-01-05T09:30:00+00:00",
        ]
    )


def test_bad_ndjson_lines_are_named(client, acme):
    body = '{"email": "a@example.com"}\n[1]\n{"email": 5}\n{"fax": "1"}\n{"topic": "x"}\nnot json\n'

    response = client.post(
        "/v1/suppressions/import",
        params={"skip_invalid": "true"},
        content=body,
        headers={**acme.admin, **NDJSON},
    )

    assert response.json() == {
        "rows": 6,
        "changed": 1,
        "repeated": 0,
        "skipped": 5,
        "resumed": 0,
        "errors": [
            {"line": 2, "field": "row", "reason": "is not a JSON object"},
            {"line": 3, "field": "email", "reason": "must be a string or null"},
            {"line": 4, "field": "fax", "reason": "is not a known field"},
            {
                "line": 5,
                "field": "row",
                "reason": "needs 'email' or 'phone', or 'channel' and 'address'",
            },
            {"line": 6, "field": "row", "reason": "is not valid JSON"},
        ],
    }


def test_export_then_import_round_trip(client, acme, globex):
    body = "email,reason,timestamp\n" + "".join(
        f"user{i}@example.com,r{i},2024-03-0{i}T10:00:00Z\n" for i in range(1, 6)
    )
    client.post("/v1/suppressions/import", content=body, headers={**acme.admin, **CSV})
    exported = "\n".join(export(client, acme)) + "\n"

    back = client.post("/v1/suppressions/import", content=exported, headers={**acme.admin, **CSV})
    moved = client.post(
        "/v1/suppressions/import", content=exported, headers={**globex.admin, **CSV}
    )

    assert back.json() == {
        "rows": 5,
        "changed": 0,
        "repeated": 5,
        "skipped": 0,
        "errors": [],
        "resumed": 0,
    }
    assert moved.json() == {
        "rows": 5,
        "changed": 5,
        "repeated": 0,
        "skipped": 0,
        "errors": [],
        "resumed": 0,
    }
    assert sorted(r.split(",")[1] for r in export(client, acme)[1:]) == [
        f"user{i}@example.com" for i in range(1, 6)
    ]
    assert sorted(r.split(",")[3] for r in export(client, globex)[1:]) == [
        f"r{i}" for i in range(1, 6)
    ]


def test_the_export_streams_many_pages(client, services, acme):
    body = "email\n" + "".join(f"u{i}@example.com\n" for i in range(2_500))
    client.post("/v1/suppressions/import", content=body, headers={**acme.admin, **CSV})

    rows = export(client, acme)

    assert len(rows) == 2_501
    assert len(set(rows)) == 2_501


def test_a_body_of_another_type_is_refused(client, acme):
    response = client.post(
        "/v1/suppressions/import",
        content="email\n",
        headers={**acme.admin, "Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()) == (
        415,
        problem(
            415, "unsupported-media-type", "The body must be text/csv or application/x-ndjson."
        ),
    )


def test_text_that_is_not_utf8_is_named_by_line(client, acme):
    response = client.post(
        "/v1/suppressions/import",
        content=b"email\na@example.com\n\xff@example.com\n",
        headers={**acme.admin, **CSV},
    )

    assert response.json() == invalid(("line 3: row", "is not UTF-8 text"))


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_body_over_the_cap_is_refused_while_streaming(services, acme, monkeypatch, chunked):
    monkeypatch.setattr(suppressions, "MAX_IMPORT_BYTES", 1_000)
    body = ("email\n" + "".join(f"u{i}@example.com\n" for i in range(200))).encode()
    content = iter([body[:500], body[500:]]) if chunked else body

    with TestClient(create_app(services=services, ready=lambda: True)) as client:
        response = client.post(
            "/v1/suppressions/import", content=content, headers={**acme.admin, **CSV}
        )
        rows = export(client, acme)

    assert (response.status_code, response.json()) == (
        413,
        problem(413, "too-large", "The body must be at most 1000 bytes."),
    )
    assert rows == [HEADER]


def test_an_import_over_1_mib_with_an_idempotency_key_is_imported_once(client, acme, services):
    padding = "p" * 500  # an extra column the import ignores, to pass 1 MiB in few rows
    rows = "".join(f"user{i}@example.com,{padding}\n" for i in range(2_500))
    body = f"email,note\n{rows}"
    assert len(body.encode()) > 1024 * 1024
    headers = {**acme.admin, **CSV, "Idempotency-Key": "import-2026-11-23"}

    first = client.post("/v1/suppressions/import", content=body, headers=headers)
    again = client.post("/v1/suppressions/import", content=body, headers=headers)

    assert (first.status_code, first.json()) == (
        200,
        {"rows": 2_500, "changed": 2_500, "repeated": 0, "skipped": 0, "errors": [], "resumed": 0},
    )
    assert (again.status_code, again.content) == (200, first.content)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert services.contacts.verify_ledger(tenant_id=acme.id).events == 2_500
