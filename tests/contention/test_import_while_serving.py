"""No opt-out is refused or lost while a CLI import writes the database a server uses.

`optledger serve` and `optledger import suppressions` of 300,000 rows run as two processes
on one database; 200 opt-outs, half over REST and half by RFC 8058 one-click, are sent at
a steady rate during the import's write pass (see tests/contention/harness.py). On SQLite
and PostgreSQL. The full-size run (1,000,000 rows, 1,000 opt-outs) is
bench/import_contention.py, with its figures in BENCHMARKS.md.
"""

from pathlib import Path

import pytest

from tests.conftest import DATABASES, truncate_all
from tests.contention.harness import run

ROWS = 300_000
"""Enough that the write pass outlasts the opt-outs: bulk batches (decision 0021) write
100,000 rows in under the 10 s the opt-outs take."""
OPT_OUTS = 200
RATE = 20.0
"""Opt-outs a second: 200 take 10 s, inside the import's write pass; sent faster if the
import is ahead of them (the harness's `SPREAD`), as long as one client can keep up."""


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None for the data directory's SQLite file; else an emptied PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url, cleaner = request.getfixturevalue("postgres_session_database")
    truncate_all(cleaner)
    return str(url)


def test_opt_outs_during_an_import_are_all_answered_recorded_and_effective(
    tmp_path: Path, database_url: str | None
) -> None:
    result = run(work=tmp_path, database_url=database_url, rows=ROWS, opt_outs=OPT_OUTS, rate=RATE)

    assert (result.import_exit, result.import_stdout) == (
        0,
        f"rows {ROWS}, changed {ROWS}, repeated 0, skipped 0\n",
    )
    assert result.import_stderr == ""
    assert len(result.opt_outs) == OPT_OUTS
    assert result.during_import == OPT_OUTS, "every opt-out must overlap the write pass"
    assert [o.status for o in result.refused] == []
    assert [o.address for o in result.not_effective] == []
    assert [o.address for o in result.not_recorded] == []
    assert "Traceback" not in (tmp_path / "server.log").read_text(encoding="utf-8")
    print(  # noqa: T201 - the latency is the point of the run; shown with -s
        f"opt-out latency during the import: p50 {result.latency_ms(0.5):.0f} ms, "
        f"p99 {result.latency_ms(0.99):.0f} ms, max {result.latency_ms(1):.0f} ms; "
        f"import {ROWS / result.import_seconds:.0f} rows/s"
    )
