"""The app's wiring of the notices between replicas to the change bell, both ways: a ring here is
published as ``view``, and another replica's ``view`` rings the bell here (heaven.control.app._replica_bus)."""
import asyncio
from types import SimpleNamespace

from heaven.control.app import _replica_bus
from heaven.control.caller_cache import CallerCache
from heaven.control.changes import ChangeBell
from heaven.control.replicas import MISSED
from heaven.control.notifier import NodeNotifier
from heaven.control.watchers import JobWatchers


def _controller(wakes: list | None = None) -> SimpleNamespace:
    return SimpleNamespace(store=SimpleNamespace(url="postgresql+psycopg://heaven@127.0.0.1:1/heaven"),
                           changes=ChangeBell(), notifier=NodeNotifier(), watchers=JobWatchers(),
                           wake_here=lambda: wakes.append(1) if wakes is not None else None)


def test_the_change_bell_rings_across_replicas():
    async def scenario():
        ctl = _controller()
        ctl.changes.bind(asyncio.get_running_loop())
        bus = _replica_bus(ctl, SimpleNamespace(cache=CallerCache(5.0, lambda: 0.0)))
        published = []
        bus.publish = lambda kind, items=(): published.append(kind)
        seen = ctl.changes.rung
        ctl.changes.ring()
        assert published == ["view"]
        assert await ctl.changes.wait_ring(seen, timeout=5, settle=0.0) == seen + 1
        bus.on_notice("view", [])  # what another replica's ring arrives as
        assert await ctl.changes.wait_ring(seen + 1, timeout=5, settle=0.0) == seen + 2
        assert published == ["view"]  # what came from another replica is not sent back
    asyncio.run(scenario())


def test_forgotten_callers_are_forgotten_by_every_replica():
    """A committed identity write here is published as ``callers``; one from another replica,
    or a reconnect of the listener (notices may have been lost), empties the cache here."""
    ctl, wakes = _controller(), []
    ctl.wake_here = lambda: wakes.append(1)
    auth = SimpleNamespace(cache=CallerCache(5.0, lambda: 0.0))
    bus = _replica_bus(ctl, auth)
    published = []
    bus.publish = lambda kind, items=(): published.append(kind)
    auth.cache.forget(committed=False)  # before the write: the others would read the old state again
    assert published == []
    auth.cache.forget()
    assert published == ["callers"]
    for notice in ("callers", MISSED):
        auth.cache.store("t", "bob", auth.cache.generation())
        bus.on_notice(notice, [])
        assert auth.cache.get("t") is None, notice
    assert wakes == [1]  # a reconnect also runs a cycle: a wake may have been lost too
    assert published == ["callers"]
