"""`ChecksTogether`: the single checks of one turn of the event loop, read in one look-up."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from optledger.api.rest.checks import ChecksTogether
from optledger.domain.channels import Channel
from optledger.domain.errors import Unavailable
from optledger.domain.policy import Reason
from optledger.services import Services
from optledger.services.checks import PreparedCheck
from optledger.services.results import CheckResult
from optledger.services.targets import AddressTarget
from tests.builders import every_check_verdict
from tests.fakes import MemoryTransactions
from tests.unit.conftest import API

EMAIL = Channel.EMAIL


@pytest.fixture
def lookups(transactions: MemoryTransactions, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many consent queries each look-up read, in order."""
    counted: list[int] = []
    lookup = transactions.lookup

    def counting(work: Callable[[Any], Any]) -> Any:
        found = lookup(work)
        counted.append(len(found))
        return found

    monkeypatch.setattr(transactions, "lookup", counting)
    return counted


def prepare(services: Services, tenant_id: int, topic: str, address: str) -> PreparedCheck:
    return services.checks.prepare_one(
        tenant_id=tenant_id, topic=topic, channel=EMAIL, address=address
    )


async def answer_all(together: ChecksTogether, checks: list[PreparedCheck]) -> list[CheckResult]:
    return list(await asyncio.gather(*(together.answer(check) for check in checks)))


def test_the_checks_of_one_turn_are_read_in_one_look_up_and_answered_in_order(
    services: Services, tenant_id: int, lookups: list[int]
) -> None:
    asked = [(t, a) for t, c, a in every_check_verdict(services, tenant_id) if c is EMAIL]
    checks = [prepare(services, tenant_id, topic, address) for topic, address in asked]
    alone = services.checks.check_each(checks)
    lookups.clear()

    got = asyncio.run(answer_all(ChecksTogether(services.checks), checks))

    assert got == alone
    assert lookups == [sum(check.query is not None for check in checks)]


def test_a_check_sees_an_opt_out_made_while_it_waited_for_its_turn(
    services: Services, tenant_id: int, lookups: list[int]
) -> None:
    together = ChecksTogether(services.checks)

    async def check_then_opt_out() -> list[CheckResult]:
        waiting = asyncio.ensure_future(
            together.answer(prepare(services, tenant_id, "digest", "late@example.com"))
        )
        await asyncio.sleep(0)  # the check waits for its turn's look-up
        services.subscriptions.unsubscribe(
            tenant_id=tenant_id,
            target=AddressTarget(EMAIL, "late@example.com"),
            topics=None,
            provenance=API,
        )
        first = await waiting
        second = await together.answer(prepare(services, tenant_id, "digest", "late@example.com"))
        return [first, second]

    first, second = asyncio.run(check_then_opt_out())

    assert first.reason is Reason.SUPPRESSED  # read after the opt-out committed
    assert second.reason is Reason.SUPPRESSED
    assert lookups == [1, 1]  # one look-up per turn: nothing is kept between them


def test_checks_that_need_no_read_are_answered_at_once(
    services: Services, tenant_id: int, lookups: list[int]
) -> None:
    checks = [
        prepare(services, tenant_id, "digest", "not-an-address"),
        prepare(services, tenant_id, "nope", "a@example.com"),
    ]

    got = asyncio.run(answer_all(ChecksTogether(services.checks), checks))

    assert [r.reason for r in got] == [Reason.INVALID_ADDRESS, Reason.UNKNOWN_TOPIC]
    assert lookups == []


def test_a_failed_look_up_fails_each_check_that_waited_for_it(
    services: Services,
    tenant_id: int,
    transactions: MemoryTransactions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = [prepare(services, tenant_id, "digest", f"{n}@example.com") for n in range(3)]

    def unavailable(work: Callable[[Any], Any]) -> Any:
        raise Unavailable("the database is down")

    monkeypatch.setattr(transactions, "lookup", unavailable)

    async def answer_each() -> list[BaseException | CheckResult]:
        together = ChecksTogether(services.checks)
        return list(
            await asyncio.gather(
                *(together.answer(check) for check in checks), return_exceptions=True
            )
        )

    got = asyncio.run(answer_each())

    assert [type(outcome) for outcome in got] == [Unavailable] * 3
