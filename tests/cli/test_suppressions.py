import csv
import io
import re
from datetime import datetime
from pathlib import Path

import pytest

from optledger.cli.suppressions import EXPORT_COLUMNS
from optledger.domain.errors import Unavailable
from optledger.services import suppressions
from optledger.services.suppressions import SuppressionService
from tests.import_cases import BAD_CSV

GOOD = (
    "channel,address,reason,timestamp\n"
    "email,Ann@Example.COM,complaint,2026-01-02T03:04:05+00:00\n"
    "sms,(650) 253-0000,stop,\n"
    "email, bob@example.com ,,\n"
)
BAD = (
    "email,reason\n"
    "ann@example.com,\n"
    "not-an-email,\n"
    ",\n"
    "carl@example.com,x,extra\n"
    "dora@example.com,moved\n"
)
BAD_LINES = (
    "line 3: email: is not a valid email address: an email address must have an @-sign\n"
    "line 5: row: has 3 fields, the header has 2\n"
)


@pytest.fixture
def write(tmp_path):
    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write_file


def exported(run, *extra: str) -> list[dict[str, str]]:
    result = run("export", "suppressions", "--tenant", "acme", *extra)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return list(csv.DictReader(io.StringIO(result.stdout)))


def addresses(rows: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return sorted((r["channel"], r["address"], r["reason"]) for r in rows)


def test_import_good_file(run, tenant, write):
    result = run("import", "suppressions", "--tenant", "acme", str(write("good.csv", GOOD)))

    assert result.exit_code == 0
    assert result.stdout == "rows 3, changed 3, repeated 0, skipped 0\n"
    assert result.stderr == ""


def test_importing_again_repeats(run, tenant, write):
    path = str(write("good.csv", GOOD))
    run("import", "suppressions", "--tenant", "acme", path)

    result = run("import", "suppressions", "--tenant", "acme", path)

    assert result.exit_code == 0
    assert result.stdout == "rows 3, changed 0, repeated 3, skipped 0\n"


def test_export_round_trip_normalises_addresses(run, tenant, write, tmp_path):
    run("import", "suppressions", "--tenant", "acme", str(write("good.csv", GOOD)))
    output = tmp_path / "out" / "suppressions.csv"
    output.parent.mkdir()

    result = run("export", "suppressions", "--tenant", "acme", "--output", str(output))

    assert result.exit_code == 0
    assert result.stdout == ""
    text = output.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert addresses(rows) == [
        ("email", "ann@example.com", "complaint"),
        ("email", "bob@example.com", "imported"),
        ("sms", "+16502530000", "stop"),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["address_hash"]) for r in rows)
    assert len({r["address_hash"] for r in rows}) == 3
    ann = next(r for r in rows if r["address"] == "ann@example.com")
    assert datetime.fromisoformat(ann["created_at"]) == datetime.fromisoformat(
        "2026-01-02T03:04:05+00:00"
    )
    assert sorted(p.name for p in output.parent.iterdir()) == ["suppressions.csv"]
    assert exported(run) == rows


def test_export_of_nothing_is_the_header(run, tenant):
    result = run("export", "suppressions", "--tenant", "acme")

    assert result.exit_code == 0
    assert result.stdout == "channel,address,address_hash,reason,created_at\n"


NOTHING_IMPORTED = (
    "nothing imported from {} (an import stops at its first bad row; --skip-invalid imports "
    "the good rows and lists the bad ones)\n"
)


def test_import_stops_at_the_first_bad_row_and_imports_nothing(run, tenant, write):
    result = run("import", "suppressions", "--tenant", "acme", str(write("bad.csv", BAD)))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == BAD_LINES.splitlines(keepends=True)[0] + NOTHING_IMPORTED.format(
        "bad.csv"
    )
    assert exported(run) == []
    assert run("ledger", "verify", "--tenant", "acme").stdout == "consistent (0 events)\n"


def test_import_with_skip_invalid_imports_the_good_rows(run, tenant, write):
    result = run(
        "import", "suppressions", "--tenant", "acme", str(write("bad.csv", BAD)), "--skip-invalid"
    )

    assert result.exit_code == 0
    assert result.stdout == "rows 4, changed 2, repeated 0, skipped 2\n"
    assert result.stderr == BAD_LINES
    assert addresses(exported(run)) == [
        ("email", "ann@example.com", "imported"),
        ("email", "dora@example.com", "moved"),
    ]


def test_skip_invalid_lists_the_first_bad_rows_and_counts_the_rest(run, tenant, write, monkeypatch):
    monkeypatch.setattr(suppressions, "MAX_LISTED_ERRORS", 2)
    text = "email\n" + "".join(f"bad{n}\n" for n in range(5)) + "good@example.com\n"

    result = run(
        "import", "suppressions", "--tenant", "acme", str(write("x.csv", text)), "--skip-invalid"
    )

    reason = "is not a valid email address: an email address must have an @-sign"
    assert result.exit_code == 0
    assert result.stdout == "rows 6, changed 1, repeated 0, skipped 5\n"
    assert result.stderr == (
        f"line 2: email: {reason}\nline 3: email: {reason}\nand 3 more bad rows\n"
    )


@pytest.mark.usefixtures("tenant")
@pytest.mark.parametrize(("content", "field", "reason"), BAD_CSV)
def test_each_kind_of_bad_file_names_its_line(run, tmp_path, content, field, reason):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)

    result = run("import", "suppressions", "--tenant", "acme", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"{field}: {reason}\n" + NOTHING_IMPORTED.format("bad.csv")
    assert exported(run) == []


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR-only"])
def test_any_line_ending_imports(run, tenant, tmp_path, end):
    path = tmp_path / "optouts.csv"
    path.write_bytes(
        end.join(["email,reason", "ann@example.com,moved", "bob@example.com,"]).encode()
    )

    result = run("import", "suppressions", "--tenant", "acme", str(path))

    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "rows 2, changed 2, repeated 0, skipped 0\n",
        "",
    )
    assert addresses(exported(run)) == [
        ("email", "ann@example.com", "moved"),
        ("email", "bob@example.com", "imported"),
    ]


def test_import_without_an_address_column_exits_with_1(run, tenant, write):
    result = run("import", "suppressions", "--tenant", "acme", str(write("x.csv", "name\nann\n")))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "line 1: header: needs an 'email' or 'phone' column, or 'channel' and 'address'"
    )


def test_import_of_a_missing_file_is_a_usage_error(run, tenant, tmp_path):
    result = run("import", "suppressions", "--tenant", "acme", str(tmp_path / "missing.csv"))

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_import_into_an_unknown_tenant_exits_with_3(run, write):
    result = run("import", "suppressions", "--tenant", "nope", str(write("good.csv", GOOD)))

    assert result.exit_code == 3
    assert result.stderr == "tenant 'nope' was not found\n"


def test_an_import_the_database_cannot_take_exits_with_7_and_says_how_to_go_on(
    run, tenant, write, monkeypatch
):
    def unavailable(self, **_arguments):
        raise Unavailable

    monkeypatch.setattr(SuppressionService, "import_csv", unavailable)

    result = run("import", "suppressions", "--tenant", "acme", str(write("good.csv", GOOD)))

    assert (result.exit_code, result.stdout) == (7, "")
    assert result.stderr == (
        "import stopped: the database stayed busy or unreachable; the rows written so far "
        "are kept, and running the same import again goes on after them\n"
    )
