"""The app's wiring of the notices between replicas to the change bell, both ways: a ring here is
published as ``view``, and another replica's ``view`` rings the bell here (heaven.control.app._replica_bus)."""
import asyncio
from types import SimpleNamespace

from heaven.control.app import _replica_bus
from heaven.control.changes import ChangeBell
from heaven.control.notifier import NodeNotifier
from heaven.control.watchers import JobWatchers


def test_the_change_bell_rings_across_replicas():
    async def scenario():
        ctl = SimpleNamespace(store=SimpleNamespace(url="postgresql+psycopg://heaven@127.0.0.1:1/heaven"),
                              changes=ChangeBell(), notifier=NodeNotifier(), watchers=JobWatchers(),
                              wake_here=lambda: None)
        ctl.changes.bind(asyncio.get_running_loop())
        bus = _replica_bus(ctl)
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
