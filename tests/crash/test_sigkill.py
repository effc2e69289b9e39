"""Acknowledged unsubscribes survive SIGKILL of the server (20 cycles; more in bench/)."""

import random

from tests.crash.harness import check_database, create_tenant, cycle

CYCLES = 20


def test_acknowledged_unsubscribes_survive_sigkill(tmp_path):
    key = create_tenant(tmp_path)
    rng = random.Random(20261123)
    acknowledged: list[str] = []
    for number in range(CYCLES):
        acknowledged += cycle(data_dir=tmp_path, key=key, number=number, threads=16, rng=rng)
        # Every write acknowledged so far, in this cycle or an earlier one, is checked.
        result = check_database(tmp_path / "optledger.db", acknowledged)
        assert (result.integrity, result.lost, result.duplicated) == ("ok", [], [])
    assert len(acknowledged) >= 200
