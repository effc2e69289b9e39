"""The columnar list check (`services.list_checks`) answers each line exactly as the
per-line normalisation does, and cuts its input into pieces at line ends."""

from dataclasses import replace

import polars as pl
import pytest

from optledger.domain.channels import Channel, normalise_addresses
from optledger.domain.errors import InvalidInput
from optledger.domain.model import SubscriptionState
from optledger.domain.policy import Decision, Reason
from optledger.domain.ports import SuppressedSet
from optledger.services import list_checks
from optledger.services.list_checks import (
    ListCheckChunk,
    Verdicts,
    WholeSuppressions,
    answer_piece,
    normalise_piece,
    pieces,
    states_frame,
)
from tests.unit.domain.email_samples import email_samples

ALLOW = Decision(allowed=True, reason=Reason.OPT_OUT_DEFAULT)
SPACES = ("", " ", "\t", " \r", "\u00a0", "\x1c", "\u2003 ")


def _nothing(values: pl.Series) -> tuple[pl.Series, pl.DataFrame]:
    return pl.Series([False] * len(values), dtype=pl.Boolean), states_frame({})


def check_piece(text: str, *, first: int, channel: Channel) -> ListCheckChunk:
    frame = normalise_piece(text, first=first, channel=channel, default_region="GB")
    return answer_piece(frame, verdicts=_verdicts())


def _verdicts() -> Verdicts:
    decisions = {
        (state, suppressed): ALLOW
        for state in (None, *SubscriptionState)
        for suppressed in (False, True)
    }
    return Verdicts(decisions=decisions, lookup=_nothing)


def test_each_line_is_normalised_as_one_address_is():
    samples = list(email_samples(20_000, seed=25))
    lines = [
        f"{SPACES[n % len(SPACES)]}{sample}{SPACES[(n // 7) % len(SPACES)]}"
        for n, sample in enumerate(samples)
    ]
    lines[5:5] = ["", "   ", "\u00a0"]
    chunk = check_piece(
        "\n".join(lines),
        first=10,
        channel=Channel.EMAIL,
    )
    texts = [line.strip() for line in lines]
    values = normalise_addresses(channel=Channel.EMAIL, raws=texts, default_region="GB")
    expected = [
        (number, text, value, value is not None)
        for number, (text, value) in enumerate(zip(texts, values, strict=True), start=10)
        if text
    ]
    got = [(r.line, r.input, r.address, r.allowed) for r in chunk.results()]
    assert got == expected
    assert (
        sum(1 for _, _, value, _ in expected if value is None) == chunk.blocked()["invalid_address"]
    )


def test_other_channels_are_normalised_line_by_line():
    chunk = check_piece(
        " +44 20 7946 0958\n\n020 7946 0959 \nnot a number",
        first=1,
        channel=Channel.SMS,
    )
    assert [(r.line, r.input, r.address, r.reason) for r in chunk.results()] == [
        (1, "+44 20 7946 0958", "+442079460958", Reason.OPT_OUT_DEFAULT),
        (3, "020 7946 0959", "+442079460959", Reason.OPT_OUT_DEFAULT),
        (4, "not a number", None, Reason.INVALID_ADDRESS),
    ]


def test_pieces_end_at_line_ends(monkeypatch):
    monkeypatch.setattr(list_checks, "PIECE_BYTES", 10)
    chunks = [b"a@x.io\nb@x", b".io\nc@x.io\nd@x.io\n", b"e@x.", b"io"]
    assert list(pieces(chunks, first_lines=1)) == [
        (1, "a@x.io\n"),
        (2, "b@x.io\nc@x.io\nd@x.io\n"),
        (5, "e@x.io"),
    ]


def test_a_line_that_is_not_utf8_is_named():
    chunks = [b"a@x.io\n\nb@x.io\n", b"\xff@x.io\n"]
    with pytest.raises(InvalidInput) as raised:
        list(pieces(chunks, first_lines=2))
    assert [(e.field, e.reason) for e in raised.value.errors] == [("line 4", "is not UTF-8 text")]


def test_the_whole_suppressions_search_decides_where_hashes_agree():
    """A line whose slot a value marked is suppressed only if it is one of the values:
    slots marked by other values (all of them, forced here) change nothing; a null is
    not suppressed."""
    whole = WholeSuppressions.of(SuppressedSet(values="b@x.io\nd@x.io", hashes=set()))
    lines = pl.Series("address", ["a@x.io", "b@x.io", None, "c@x.io", "d@x.io"])
    colliding = replace(whole, slots=pl.repeat(value=True, n=len(whole.slots), eager=True))

    assert whole.flags(lines, hash_of=_no_hashing).to_list() == [False, True, False, False, True]
    assert colliding.flags(lines, hash_of=_no_hashing).to_list() == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert (
        WholeSuppressions.of(SuppressedSet(values="", hashes=set()))
        .flags(lines, hash_of=_no_hashing)
        .to_list()
        == [False] * 5
    )


def test_the_whole_suppressions_hash_only_the_lines_not_found_by_value():
    asked: list[list[str]] = []

    def hash_of(*, values: list[str]) -> list[str]:
        asked.append(values)
        return [f"#{value}" for value in values]

    whole = WholeSuppressions.of(SuppressedSet(values="b@x.io", hashes={"#c@x.io"}))
    lines = pl.Series("address", ["a@x.io", "b@x.io", None, "c@x.io"])

    assert whole.flags(lines, hash_of=hash_of).to_list() == [False, True, False, True]
    assert asked == [["a@x.io", "c@x.io"]]


def _no_hashing(*, values: list[str]) -> list[str]:
    raise AssertionError(f"hashed {values}")
