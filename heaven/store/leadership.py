"""The leader's epoch: the fencing token of every plan.

Several controller replicas may share one PostgreSQL database; one of them, the
leader, runs the scheduler loop (heaven.control.leadership chooses it with a
session advisory lock). Each take-over bumps ``leadership.epoch`` in its own
transaction, and the new leader stamps that epoch on every plan it makes.
``check_fence`` runs inside the transaction that writes a plan: it reads the
row ``FOR SHARE``, so a take-over (an UPDATE of that row) either committed
before, and the deposed leader's plan is refused, or waits until that plan's
transaction has committed, and the new leader's first cycle sees what it wrote.
"""
from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from heaven.store.tables import leadership

# The session advisory lock the leader holds on its dedicated connection (any constant
# apart from the core map's, heaven.store.apply.CORE_MAP_LOCK).
LEADER_LOCK = 0x48505549


class StaleEpoch(Exception):
    """A plan (or a sweep) of a deposed leader: another replica took over since."""

    def __init__(self, epoch: int, current: int) -> None:
        super().__init__(f"epoch {epoch} is stale: the leader's epoch is now {current}")
        self.epoch, self.current = epoch, current


def take_over(conn: Connection, holder: str, url: str, now: float) -> int:
    """Become the leader: bump the epoch and say who holds it; returns the new epoch."""
    row = conn.execute(update(leadership).where(leadership.c.id == 1)
                       .values(epoch=leadership.c.epoch + 1, holder=holder, url=url, since=now)
                       .returning(leadership.c.epoch)).first()
    if row is None:  # the row the migration seeds was removed by hand
        conn.execute(insert(leadership).values(id=1, epoch=1, holder=holder, url=url, since=now))
        return 1
    return row[0]


def current(conn: Connection) -> dict:
    """The leader as last recorded: ``{epoch, holder, url, since}``."""
    row = conn.execute(select(leadership).where(leadership.c.id == 1)).first()
    return dict(row._mapping) if row else {"epoch": 0, "holder": "", "url": "", "since": 0.0}


def check_fence(conn: Connection, epoch: int) -> None:
    """Raise StaleEpoch unless ``epoch`` is the current one (see the module's docstring)."""
    found = conn.execute(select(leadership.c.epoch).where(leadership.c.id == 1)
                         .with_for_update(read=True)).scalar()
    if found != epoch:
        raise StaleEpoch(epoch, found or 0)
