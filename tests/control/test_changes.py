"""The change bell: a ring from any thread ends a held wait, a burst is read as one, close ends every wait."""
import asyncio
import threading

from heaven.control.changes import ChangeBell


def test_a_ring_from_another_thread_ends_the_wait_and_tells_the_other_replicas():
    async def scenario():
        bell = ChangeBell()
        relayed: list[list[str]] = []
        bell.relay = relayed.append
        bell.bind(asyncio.get_running_loop())
        seen = bell.rung
        held = asyncio.create_task(bell.wait_ring(seen, timeout=30, settle=0.0))
        await asyncio.sleep(0.01)
        assert not held.done()
        threading.Thread(target=bell.ring).start()
        assert await asyncio.wait_for(held, 5) == seen + 1
        assert relayed == [[ChangeBell.KEY]]
    asyncio.run(scenario())


def test_rings_of_one_burst_are_read_together():
    async def scenario():
        bell = ChangeBell()
        bell.bind(asyncio.get_running_loop())
        seen = bell.rung
        held = asyncio.create_task(bell.wait_ring(seen, timeout=30, settle=1.0))
        bell.ring_here()
        await asyncio.sleep(0.05)  # the wait woke and settles: later rings of the burst still count
        bell.ring_here()
        bell.ring_here()
        assert await asyncio.wait_for(held, 5) == seen + 3
    asyncio.run(scenario())


def test_a_wait_without_a_ring_times_out_and_close_ends_every_wait_at_once():
    async def scenario():
        bell = ChangeBell()
        bell.bind(asyncio.get_running_loop())
        seen = bell.rung
        assert await bell.wait_ring(seen, timeout=0.05, settle=0.0) == seen
        held = asyncio.create_task(bell.wait_ring(seen, timeout=30, settle=30))
        await asyncio.sleep(0.01)
        await bell.close()
        assert await asyncio.wait_for(held, 1) == seen  # neither the timeout nor the settle delay is waited
        assert bell.closed
    asyncio.run(scenario())
