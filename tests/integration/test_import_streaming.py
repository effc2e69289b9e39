"""A bad row near the top of a big file is reported at once, having read little of it.

The files are generated in tmp_path (30 MB here; bench/import_rows.py runs 50 MB and
more). What is asserted is what makes the failure fast: how much of the file the import
read, how much memory it took, and the CPU time it took (this process's own, which other
processes on a loaded machine do not lengthen as they do wall time).
"""

import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from optledger.domain.errors import FieldError, InvalidInput
from optledger.domain.model import Provenance
from optledger.services import Services
from optledger.services.import_files import MAX_ROW_BYTES
from tests.builders import service_context

CHUNK = 256 * 1024
SIZE = 30_000_000


@pytest.fixture
def services(transactions) -> Services:
    return Services.build(
        service_context(
            transactions=transactions,
        )
    )


def big_file(path: Path, *, second_line: bytes) -> Path:
    row = b"user%08d@example.com,moved\n"
    rows = b"".join(row % n for n in range(SIZE // len(row % 0) + 1))
    path.write_bytes(b"email,reason\n" + second_line + rows)
    assert path.stat().st_size > SIZE
    return path


class CountingReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.read = 0

    def chunks(self) -> Iterator[bytes]:
        with self.path.open("rb") as file:
            while chunk := file.read(CHUNK):
                self.read += len(chunk)
                yield chunk


@pytest.mark.parametrize(
    ("second_line", "error", "most_read"),
    [
        pytest.param(
            b"not-an-email,x\n",
            FieldError(
                "line 2: email",
                "is not a valid email address: an email address must have an @-sign",
            ),
            CHUNK,
            id="bad-address",
        ),
        pytest.param(
            b'"stray@example.com,x\n',
            FieldError(
                "line 2: row",
                f"has a quote that is not closed within {MAX_ROW_BYTES} bytes "
                "(reading goes on after line 2116)",  # 2 + the 2,114 rows of 31 bytes it took
            ),
            CHUNK,
            id="unclosed-quote",
        ),
        pytest.param(
            b"ann@example.com," + b"x" * 10_000_000 + b"\n",
            FieldError("line 2: row", f"is longer than {MAX_ROW_BYTES} bytes"),
            10_000_000 + 2 * CHUNK,
            id="ten-megabyte-row",
        ),
    ],
)
def test_a_bad_row_at_line_2_of_a_30_mb_file_fails_at_once(
    services, tmp_path, second_line, error, most_read
):
    tenant_id = services.tenants.create_tenant(name="acme").tenant.id
    reader = CountingReader(big_file(tmp_path / "big.csv", second_line=second_line))

    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(InvalidInput) as caught:
            services.suppressions.import_csv(
                tenant_id=tenant_id,
                chunks=reader.chunks(),
                skip_invalid=False,
                provenance=Provenance(via="import"),
            )
        elapsed = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert caught.value.errors == (error,)
    assert reader.read <= most_read
    assert peak < 4 * 1024 * 1024
    assert elapsed < 0.5
    assert services.contacts.verify_ledger(tenant_id=tenant_id).events == 0
