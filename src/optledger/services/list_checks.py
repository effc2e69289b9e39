"""A list check in columns: a piece of a list (hundreds of thousands of lines) answered
with polars, the per-line work done in Rust on every core (decision 0025).

The answers are those of `CheckService.check` for each line, exactly:

- A line that is, after ASCII white space is trimmed, in the form of the fast email path
  (`channels.FAST_EMAIL_PATTERN`, at most 254 characters, no "--" and no special-use
  name in the domain) is that text lower-cased, as `channels._fast_email` answers it (a
  line with "--" anywhere goes to the validator, which answers the same).
  (Rust's regex gives `extract` a slow engine; `contains` is about twenty times faster.)
- Every other non-blank line goes through `normalise_addresses` in Python, as before:
  Unicode white space, the validator's own checks and messages, other channels.
- A value is suppressed when it is among the suppressed values the database still holds,
  or when its keyed hash is among the remaining suppressions' hashes; only when there are
  such hashes is any line hashed.
"""

import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

import polars as pl

from optledger.domain.channels import (
    EMAIL_MAX_LENGTH,
    FAST_EMAIL_PATTERN,
    SPECIAL_USE_SUFFIXES,
    Channel,
    normalise_addresses,
)
from optledger.domain.errors import InvalidInput
from optledger.domain.model import SubscriptionState
from optledger.domain.policy import Decision, Reason
from optledger.domain.ports import SuppressedSet
from optledger.services.results import LineCheckResult

__all__ = [
    "COLUMNS",
    "ListCheckChunk",
    "Lookup",
    "Verdicts",
    "WholeSuppressions",
    "answer_piece",
    "normalise_piece",
    "pieces",
    "states_frame",
]

COLUMNS: Final = ("line", "input", "address", "allowed", "reason")
"""The columns of an answered piece, and of the API's CSV answer."""
PIECE_BYTES: Final = 8 * 1024 * 1024
"""The size of a piece after the first (about 300,000 lines of 25 characters)."""
_ASCII_SPACE: Final = " \t\n\v\f\r"
_FAST_EMAIL: Final = rf"^{FAST_EMAIL_PATTERN}$"
_SPECIAL_USE_DOMAIN: Final = (
    "[@.](?:" + "|".join(re.escape(s[1:]) for s in SPECIAL_USE_SUFFIXES) + ")$"
)
"""A domain that is or ends in a special-use name: the validator's to answer, as is one
with "--" (looked for in the whole line: the rare local part with "--" goes to the
validator too, which answers it as the fast path would, and a literal search costs a
third of a regex's)."""


@dataclass(frozen=True, slots=True)
class ListCheckChunk:
    """The answers to consecutive non-blank lines of a list, in order: for each its line
    number, its input (trimmed), its normalised address (None when invalid), whether it
    may be sent to and the reason."""

    frame: pl.DataFrame

    def __len__(self) -> int:
        return self.frame.height

    def allowed_lines(self) -> tuple[int, bytes]:
        """How many of the lines may be sent to, and their normalised addresses in order,
        each followed by a newline, in UTF-8 (written in columns: a list has millions; no
        address holds a newline, so none needs quoting)."""
        allowed = self.frame.filter(pl.col("allowed")).select("address")
        text = io.BytesIO()
        allowed.write_csv(text, include_header=False, quote_style="never")
        return allowed.height, text.getvalue()

    def blocked(self) -> dict[str, int]:
        """How many lines were blocked, by reason."""
        counts = self.frame.filter(~pl.col("allowed")).group_by("reason").len()
        return dict(zip(counts.get_column("reason"), counts.get_column("len"), strict=True))

    def ndjson(self) -> bytes:
        """One JSON object a line, with the keys of `COLUMNS`."""
        return self.frame.write_ndjson().encode()

    def csv(self, *, header: bool) -> bytes:
        """CSV rows with the columns of `COLUMNS`, with their header line if `header`."""
        return self.frame.write_csv(include_header=header).encode()

    def results(self) -> Iterator[LineCheckResult]:
        for line, text, address, allowed, reason in self.frame.iter_rows():
            yield LineCheckResult(line, text, address, allowed, Reason(reason))


Lookup = Callable[[pl.Series], tuple[pl.Series, pl.DataFrame]]
"""For the values of a piece's lines, in order (null where invalid): whether each is
suppressed (anything for a null), and the states of those that have one (a frame of
`address`, `state`; see `states_frame`)."""


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What decides a piece's lines: the topic's answer for each (state, suppressed), and
    how the suppressions and states of its values are found."""

    decisions: Mapping[tuple[SubscriptionState | None, bool], Decision]
    lookup: Lookup


def pieces(chunks: Iterable[bytes], *, first_lines: int) -> Iterator[tuple[int, str]]:
    """The text of `chunks` in pieces of whole lines, with the number of each piece's
    first line: the first piece has at most `first_lines` lines (a short list is answered
    from it alone), the others about PIECE_BYTES. InvalidInput names the first line that
    is not UTF-8."""
    buffer = bytearray()
    number = 1
    wanted = first_lines
    newlines = 0
    for chunk in chunks:
        buffer += chunk
        newlines += chunk.count(b"\n")
        while (cut := _cut(buffer, lines=wanted, newlines=newlines)) is not None:
            piece = bytes(memoryview(buffer)[:cut])
            del buffer[:cut]
            # Each byte is counted once: what is left after the cut is under a chunk.
            count = newlines - buffer.count(b"\n")
            yield number, _decoded(piece, first=number)
            number += count
            newlines -= count
            wanted = 0
    if buffer:
        yield number, _decoded(bytes(buffer), first=number)


def _cut(buffer: bytearray, *, lines: int, newlines: int) -> int | None:
    """Where the next piece ends (after a newline): after `lines` lines, or for 0 after
    the last newline once PIECE_BYTES are there; None while there are not enough.
    `newlines` is how many the buffer holds."""
    if lines:
        if newlines < lines:
            return None
        end = 0
        for _ in range(lines):
            end = buffer.find(b"\n", end) + 1
        return end
    if len(buffer) < PIECE_BYTES or not newlines:
        return None
    return buffer.rfind(b"\n") + 1


def _decoded(data: bytes, *, first: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = first + data.count(b"\n", 0, exc.start)
        raise InvalidInput.of(f"line {number}", "is not UTF-8 text") from None


def normalise_piece(
    text: str, *, first: int, channel: Channel, default_region: str
) -> pl.DataFrame:
    """The non-blank lines of `text` (whose first line is number `first`): `line`, `input`
    and `address` (the normalised value, null where invalid)."""
    lines = pl.Series("raw", [text]).str.split("\n").explode()
    if text.endswith("\n"):  # not a line: what follows the last one's end
        lines = lines.head(len(lines) - 1)
    numbers = pl.int_range(first, first + len(lines), eager=True, dtype=pl.Int64)
    inputs, values = _normalised(lines, channel=channel, region=default_region)
    frame = pl.DataFrame({"line": numbers, "input": inputs, "address": values})
    return frame.filter(pl.col("input").is_not_null()) if inputs.has_nulls() else frame


def answer_piece(frame: pl.DataFrame, *, verdicts: Verdicts) -> ListCheckChunk:
    """The answers to the lines of a `normalise_piece` frame."""
    suppressed, states = verdicts.lookup(frame.get_column("address"))
    frame = frame.with_columns(suppressed=suppressed.fill_null(value=False))
    if states.height:
        frame = frame.join(states, on="address", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(state=pl.lit(None, dtype=pl.String))
    allowed, reasons = _decision_tables(verdicts.decisions)
    answer = pl.col("state").replace_strict(
        _STATE_CODES, default=0, return_dtype=pl.Int64
    ) * 2 + pl.col("suppressed").cast(pl.Int64)
    valid = pl.col("address").is_not_null()
    answered = frame.with_columns(
        allowed=pl.when(valid).then(pl.lit(allowed).gather(answer)).otherwise(pl.lit(value=False)),
        reason=pl.when(valid)
        .then(pl.lit(reasons).gather(answer))
        .otherwise(pl.lit(Reason.INVALID_ADDRESS.value)),
    )
    return ListCheckChunk(answered.select(COLUMNS))


_STATE_CODES: Final = {state.value: code for code, state in enumerate(SubscriptionState, start=1)}
"""The code of each state in `_decision_tables` (0: no state)."""


def _decision_tables(
    decisions: Mapping[tuple[SubscriptionState | None, bool], Decision],
) -> tuple[pl.Series, pl.Series]:
    """`allowed` and `reason` for each (state, suppressed), at 2 * state code + suppressed."""
    states: list[SubscriptionState | None] = [None, *SubscriptionState]
    keys = [(state, suppressed) for state in states for suppressed in (False, True)]
    return (
        pl.Series([decisions[key].allowed for key in keys], dtype=pl.Boolean),
        pl.Series([decisions[key].reason.value for key in keys], dtype=pl.String),
    )


def _normalised(raw: pl.Series, *, channel: Channel, region: str) -> tuple[pl.Series, pl.Series]:
    """The input (the trimmed line; null for a blank one) and the normalised value (null
    for an invalid one) of each line: the fast email form in columns, the rest in Python."""
    frame = pl.DataFrame({"raw": raw}).with_columns(
        stripped=pl.col("raw").str.strip_chars(_ASCII_SPACE)
    )
    if channel is Channel.EMAIL:
        stripped = pl.col("stripped")
        frame = frame.with_columns(lowered=stripped.str.to_lowercase()).with_columns(
            plain=stripped.str.contains(_FAST_EMAIL)
            & (stripped.str.len_bytes() <= EMAIL_MAX_LENGTH)
            & ~pl.col("lowered").str.contains("--", literal=True)
            & ~pl.col("lowered").str.contains(_SPECIAL_USE_DOMAIN)
        )
        columns = frame.select(
            input=pl.when("plain").then("stripped"),
            address=pl.when("plain").then("lowered"),
            slow=~pl.col("plain") & (stripped != ""),
        )
    else:
        columns = frame.select(
            input=pl.lit(None, dtype=pl.String),
            address=pl.lit(None, dtype=pl.String),
            slow=pl.col("stripped") != "",
        )
    inputs, values = columns.get_column("input"), columns.get_column("address")
    slow = columns.get_column("slow").arg_true()
    if len(slow) == 0:
        return inputs, values
    texts = [line.strip() for line in raw.gather(slow).to_list()]
    answers = normalise_addresses(channel=channel, raws=texts, default_region=region)
    inputs = inputs.scatter(slow, [text or None for text in texts])
    values = values.scatter(
        slow, [value if text else None for text, value in zip(texts, answers, strict=True)]
    )
    return inputs, values


def states_frame(states: Mapping[str, SubscriptionState]) -> pl.DataFrame:
    """value → state as a frame with the columns `address` and `state`."""
    return pl.DataFrame(
        {"address": list(states), "state": [state.value for state in states.values()]},
        schema={"address": pl.String, "state": pl.String},
    )


@dataclass(frozen=True, slots=True)
class WholeSuppressions:
    """A channel's every suppression (`SuppressedSet`), ready for pieces. The values are
    sorted once and searched (in Rust) only for the lines that may be among them: those
    whose 64-bit polars hash marks a slot of `slots`, a bitmap of about 32 slots a value
    set once from the values' hashes (a few lines in a hundred are marked by another
    value's). The search decides, so the bitmap changes no answer; it spares the search
    of strings (about 19 comparisons a line, in random memory) for nearly every line that
    is not suppressed, and unlike polars' `is_in` or a join it is not built again for
    every piece. A Python set would cost a Python step a line."""

    values: pl.Series
    slots: pl.Series
    hashes: set[str]

    @classmethod
    def of(cls, found: SuppressedSet) -> "WholeSuppressions":
        text = pl.Series("address", [found.values], pl.String)
        values = text.str.split("\n").explode() if found.values else text.clear()
        size = max(_MIN_SLOTS, 1 << (len(values) * _SLOTS_A_VALUE).bit_length())
        slots = pl.repeat(value=False, n=size, dtype=pl.Boolean, eager=True)
        slots = slots.scatter(_slot(values, size=size), True)
        return cls(values=values.sort(), slots=slots, hashes=found.hashes)

    def flags(self, values: pl.Series, *, hash_of: Callable[..., list[str]]) -> pl.Series:
        """Whether each of `values` is suppressed: among the values, or (only asked for
        the others, and only if there are hashes) its hash, `hash_of(values=…)`, among the
        hashes. False for a null value."""
        known = self.values
        present = values.is_not_null()
        marked = self.slots.gather(_slot(values, size=len(self.slots)))
        found = (marked & present).alias("suppressed")
        candidates = found.arg_true()
        if len(candidates):
            some = values.gather(candidates)
            at = known.search_sorted(some).clip(0, len(known) - 1)
            found = found.scatter(candidates, known.gather(at) == some)
        if not self.hashes:
            return found
        others = (~found & present).arg_true()
        hashes = hash_of(values=values.gather(others).to_list())
        return found.scatter(others, [h in self.hashes for h in hashes])


def _slot(values: pl.Series, *, size: int) -> pl.Series:
    """The slot of each value in a bitmap of `size` (a power of two) slots."""
    return values.hash(_DIGEST_SEED) & (size - 1)


_DIGEST_SEED: Final = 0x6F70746C
"""The seed of the polars hashes that `WholeSuppressions` marks its slots with."""
_SLOTS_A_VALUE: Final = 32
_MIN_SLOTS: Final = 1 << 16
