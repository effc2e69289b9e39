from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from optledger.domain.secrets import KeyedHasher
from optledger.services import Services
from tests.builders import service_context
from tests.fakes import FrozenClock, MemorySpools, MemoryTransactions
from tests.property.ledger_machine import World, machine


def memory_world() -> World:
    transactions, clock, hasher = MemoryTransactions(), FrozenClock(), KeyedHasher(b"p" * 32)
    ctx = service_context(
        transactions=transactions,
        clock=clock,
        hasher=hasher,
        spools=MemorySpools(),
    )
    return World(Services.build(ctx), transactions, clock, hasher, close=lambda: None)


def test_replaying_the_ledger_yields_the_stored_state():
    run_state_machine_as_test(
        machine(memory_world),
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
