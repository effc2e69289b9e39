"""Spools in anonymous temporary files, as the `Spools` port.

Each spool is a `tempfile.TemporaryFile`: created mode 0600 in the system's temporary
directory (`TMPDIR`), and on Linux unlinked at once, so it has no name another process
could open, and its disk space is freed when it is closed or the process dies, even by
SIGKILL. It holds an import's normalised rows, addresses included, for no longer than
the import.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Final

__all__ = ["TemporaryFileSpool", "TemporaryFileSpools"]

_BUFFER: Final = 1024 * 1024


class TemporaryFileSpool:
    """Records as UTF-8 lines of one temporary file."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def append(self, record: str) -> None:
        self._file.write(record)
        self._file.write("\n")

    def replay(self) -> Iterator[str]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield line[:-1]


class TemporaryFileSpools:
    """Opens a new `TemporaryFileSpool` for each import."""

    @contextmanager
    def open(self) -> Iterator[TemporaryFileSpool]:
        with tempfile.TemporaryFile(
            "w+", encoding="utf-8", newline="\n", buffering=_BUFFER
        ) as file:
            yield TemporaryFileSpool(file)
