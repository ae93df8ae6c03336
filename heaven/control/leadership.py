"""Which replica runs the scheduler loop and the node sweep: the leader.

PostgreSQL: every replica campaigns on a dedicated connection of its own
(autocommit, outside the pool) with ``pg_try_advisory_lock``, every
``RETRY`` seconds. The lock is a session lock: it is held as long as that
connection lives and PostgreSQL frees it the moment the connection closes,
which a kill -9 of the process does at once (the kernel closes its socket). The
winner bumps the epoch (heaven.store.leadership.take_over), and that epoch fences
every plan it makes. The leader probes its connection every ``RETRY`` seconds;
a probe that fails or hangs for ``PROBE_TIMEOUT`` makes it step down (its lock may
be gone, and another replica may lead already: its plans would be refused anyway).

SQLite: one replica, always the leader (it still takes an epoch, so its plans
are fenced the same way).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from sqlalchemy.engine import make_url

from heaven.store import leadership as epochs
from heaven.store.engine import Store

log = logging.getLogger("heaven.leadership")
RETRY = 0.5  # seconds between campaign attempts, and between the leader's probes
PROBE_TIMEOUT = 3.0  # seconds a probe of the leader's connection may take


def libpq_url(store: Store) -> str:
    """The store's URL as libpq (psycopg) reads it: without SQLAlchemy's driver name."""
    return make_url(store.url).set(drivername="postgresql").render_as_string(hide_password=False)


class Leadership:
    def __init__(self, store: Store, url: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.url = url  # where this replica serves the API (told to the others)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.clock = clock
        self.epoch: int | None = None  # set while this replica leads
        self._changed: asyncio.Event | None = None
        self._deposed = False
        self._only_replica = store.engine.dialect.name != "postgresql"

    @property
    def is_leader(self) -> bool:
        """SQLite: always (one replica), even before its epoch is taken."""
        return self._only_replica or self.epoch is not None

    async def wait_change(self, timeout: float) -> None:
        """Until leadership is won or lost (or ``timeout`` s)."""
        if self._changed is None:
            await asyncio.sleep(timeout)
            return
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass
        self._changed.clear()

    def step_down(self, why: str) -> None:
        """From the event loop: stop leading now (a fenced write was refused, the probe failed)."""
        if self.epoch is not None:
            log.warning("stepping down from epoch %d: %s", self.epoch, why)
            self.epoch = None
            self._deposed = True
            if self._changed is not None:
                self._changed.set()

    def _won(self, epoch: int) -> None:
        log.info("leading with epoch %d", epoch)
        self.epoch = epoch
        self._deposed = False
        self._changed.set()

    def _take_over(self) -> int:
        with self.store.begin() as conn:
            return epochs.take_over(conn, self.holder, self.url, self.clock())

    async def run(self) -> None:
        self._changed = asyncio.Event()
        if self._only_replica:
            self._won(await asyncio.to_thread(self._take_over))
            await asyncio.Event().wait()  # until cancelled
        while True:
            try:
                await self._campaign()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: follow, and campaign again
                self.step_down(f"lost the database: {exc}")
                log.warning("campaign failed (%s); retrying", exc)
            await asyncio.sleep(RETRY)

    async def _campaign(self) -> None:
        import psycopg  # only PostgreSQL replicas campaign

        conn = await psycopg.AsyncConnection.connect(libpq_url(self.store), autocommit=True, connect_timeout=5,
                                                     keepalives=1, keepalives_idle=5, keepalives_interval=1,
                                                     keepalives_count=3)
        try:
            while not self._deposed:
                async with asyncio.timeout(PROBE_TIMEOUT):
                    if self.epoch is None:
                        got = await (await conn.execute("SELECT pg_try_advisory_lock(%s)",
                                                        (epochs.LEADER_LOCK,))).fetchone()
                        if got[0]:
                            self._won(await asyncio.to_thread(self._take_over))
                    else:
                        await conn.execute("SELECT 1")  # the session, and the lock with it, still live
                await asyncio.sleep(RETRY)
        finally:
            if self.epoch is not None:
                self.step_down("campaign ended")
            self._deposed = False
            await conn.close()  # frees the lock if this session still held it
