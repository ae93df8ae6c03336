"""The long-poll notifier: a held wait ends on a change, on timeout, or when the controller stops."""
import asyncio

from heaven.control.notifier import NodeNotifier


def test_close_answers_held_long_polls_and_later_ones_at_once():
    async def scenario():
        notifier = NodeNotifier()
        notifier.bind(asyncio.get_running_loop())
        seen = notifier.generation("n1")
        held = asyncio.create_task(notifier.wait("n1", seen, timeout=30))
        await asyncio.sleep(0.01)
        assert not held.done()
        await notifier.close()
        assert await asyncio.wait_for(held, 1) == seen
        assert await asyncio.wait_for(notifier.wait("n1", seen, timeout=30), 1) == seen
    asyncio.run(scenario())
