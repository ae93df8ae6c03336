"""What one replica tells the others, over PostgreSQL's LISTEN/NOTIFY.

Five things a replica knows only from its own memory must reach the others:
- ``wake``: something may be placeable now (a submission, an exit, a node up):
  the leader's scheduler loop runs a cycle, wherever the change was written;
- ``nodes``: these nodes' assignments changed: agents long-polling any replica
  fetch them (heaven.control.notifier);
- ``jobs``: these jobs changed: requests waiting on any replica for one of them
  look again (heaven.control.watchers);
- ``view``: a commit recorded an event: dashboard streams on any replica read
  their view again (heaven.control.changes.ChangeBell);
- ``callers``: a write to people, tokens or memberships committed: every replica
  drops the callers it remembers (heaven.control.caller_cache), so a revoked token
  stops working everywhere, not just where it was revoked.
Each is sent after the change committed, on one channel, as JSON naming the
sending replica (a replica ignores its own). A notice lost with a dying replica
costs only latency (and, for ``callers``, a few seconds of a stale cache; a
listener that reconnects is handed ``MISSED`` and forgets everything): the leader's interval cycle and the agents' long-poll
timeout pick the change up from the database, and a dashboard stream reads its
view again at least every few seconds (routers/dashboard.py).

Two dedicated connections, outside the pool: one LISTENs, one sends (a
connection waiting for notices cannot run a query meanwhile).
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable

log = logging.getLogger("heaven.replicas")
CHANNEL = "heaven"
RETRY = 0.5
MISSED = "missed"  # handed to on_notice when the listener (re)connects: notices may have been lost
MAX_ITEMS = 400  # per notice: PostgreSQL's payload limit is 8,000 bytes


class ReplicaBus:
    def __init__(self, dsn: str, on_notice: Callable[[str, list], None]) -> None:
        self.dsn = dsn
        self.on_notice = on_notice  # (kind, items), called on the event loop
        self.me = uuid.uuid4().hex[:12]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue | None = None

    def publish(self, kind: str, items=()) -> None:
        """From any thread, after a commit: tell the other replicas."""
        if self._loop is not None and self._outbox is not None:
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, (kind, list(items)))

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue()
        await asyncio.gather(self._keep(self._listen), self._keep(self._send))

    async def _keep(self, part) -> None:
        while True:
            try:
                await part()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: connect again
                log.warning("replica notices: %s; reconnecting", exc)
                await asyncio.sleep(RETRY)

    async def _connect(self):
        import psycopg  # only PostgreSQL replicas have others

        return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, connect_timeout=5)

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.on_notice(MISSED, [])  # notices may have been lost while disconnected
            async for notice in conn.notifies():
                try:
                    message = json.loads(notice.payload)
                except ValueError:
                    continue
                if message.get("r") != self.me:
                    self.on_notice(message.get("k", ""), message.get("v") or [])
        finally:
            await conn.close()

    async def _send(self) -> None:
        conn = await self._connect()
        try:
            while True:
                merged: dict[str, set] = {}
                kind, items = await self._outbox.get()
                merged.setdefault(kind, set()).update(items)
                while not self._outbox.empty():  # whatever queued meanwhile goes in the same notices
                    kind, items = self._outbox.get_nowait()
                    merged.setdefault(kind, set()).update(items)
                for kind, items in merged.items():
                    ordered = sorted(items, key=str)
                    for start in range(0, max(len(ordered), 1), MAX_ITEMS):
                        payload = json.dumps({"r": self.me, "k": kind, "v": ordered[start:start + MAX_ITEMS]})
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
        finally:
            await conn.close()
