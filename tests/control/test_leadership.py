"""Two replicas campaign on one real PostgreSQL: one leads; when it stops, the other takes over."""
import asyncio
import time

import pytest

from heaven.control.leadership import Leadership
from heaven.store.engine import Store


async def _until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.postgres
def test_one_leads_and_the_other_takes_over_with_a_higher_epoch(postgres_server):
    store = Store(postgres_server.new_database())
    store.migrate()

    async def scenario():
        a, b = Leadership(store, "http://a", time.time), Leadership(store, "http://b", time.time)
        task_a = asyncio.create_task(a.run())
        await _until(lambda: a.is_leader)
        task_b = asyncio.create_task(b.run())
        await asyncio.sleep(1.5)  # three of b's attempts: the lock is a's
        assert a.is_leader and not b.is_leader
        first = a.epoch
        task_a.cancel()  # a's connection closes, and its lock with it
        await asyncio.gather(task_a, return_exceptions=True)
        await _until(lambda: b.is_leader)
        assert b.epoch == first + 1 and not a.is_leader
        task_b.cancel()
        await asyncio.gather(task_b, return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        store.dispose()


def test_sqlite_has_one_replica_that_always_leads(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'heaven.db'}")
    store.migrate()
    try:
        assert Leadership(store, "http://a", time.time).is_leader  # before its epoch is even taken
    finally:
        store.dispose()
