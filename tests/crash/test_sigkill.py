"""Acknowledged unsubscribes survive SIGKILL of the server: 20 cycles on SQLite and 5 on
PostgreSQL here, hundreds in bench/crash_cycles.py; with one server process, and with a
supervisor and two workers (each with its own writer), whom the SIGKILL takes with it."""

import random

import pytest

from tests.conftest import DATABASES, truncate_all
from tests.crash.harness import MIN_ACKNOWLEDGED, check_database, create_tenant, cycle

CYCLES = {"sqlite": 20, "postgresql": 5}


@pytest.fixture(params=DATABASES)
def server_database(request: pytest.FixtureRequest) -> str | None:
    """None for the data directory's SQLite file, or an empty migrated PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    url, cleaner = request.getfixturevalue("postgres_session_database")
    truncate_all(cleaner)
    return str(url)


@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_unsubscribes_survive_sigkill(tmp_path, server_database, workers):
    key = create_tenant(tmp_path, server_database)
    rng = random.Random(20261123)
    cycles = CYCLES["sqlite" if server_database is None else "postgresql"]
    acknowledged: list[str] = []
    for number in range(cycles):
        acknowledged += cycle(
            data_dir=tmp_path,
            database_url=server_database,
            key=key,
            number=number,
            threads=16,
            rng=rng,
            workers=workers,
        )
        # Every write acknowledged so far, in this cycle or an earlier one, is checked.
        result = check_database(tmp_path, server_database, acknowledged)
        assert (result.integrity, result.lost, result.duplicated) == ("ok", [], [])
    assert len(acknowledged) >= MIN_ACKNOWLEDGED * cycles
