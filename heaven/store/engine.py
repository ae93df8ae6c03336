"""Engine factory and migrations. Nothing is created at import time."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text

from heaven.store.events import RECORDED

log = logging.getLogger(__name__)
from heaven.store.organizations import new_invite_code
from heaven.store.tables import organizations

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_ORG = "default"
READ_ONLY = "heaven_read_only"  # execution option of the connections Store.read opens
MIGRATE_LOCK = 0x4850554D  # replicas starting together upgrade and seed one after another


def make_engine(url: str) -> Engine:
    """SQLite gets WAL (readers never block the writer) and a busy timeout;
    ``synchronous=NORMAL`` survives a killed process, which is what we promise."""
    if url.startswith("sqlite"):
        # A pool as large as the request thread pool keeps its connections: with the default
        # five, busy request threads opened and closed a connection (and its pragmas) each.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=40,
                               max_overflow=10)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # IMMEDIATE takes the write lock at BEGIN: a transaction that reads
            # then writes can never act on a stale read (no lost updates). A read
            # (Store.read) takes none: under WAL it reads a snapshot beside the writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, then seed the default organization."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        _one_at_a_time(conn)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.begin() as conn:
        _one_at_a_time(conn)
        if conn.execute(select(organizations.c.id).where(organizations.c.name == DEFAULT_ORG)).first() is None:
            conn.execute(insert(organizations).values(name=DEFAULT_ORG, invite_code=new_invite_code(),
                                                      created_at=time.time()))


def _one_at_a_time(conn: Connection) -> None:
    """PostgreSQL: several replicas may start at once; SQLite has one writer anyway."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK})


def default_org_id(conn) -> int:
    return conn.execute(select(organizations.c.id).where(organizations.c.name == DEFAULT_ORG)).scalar_one()


class Store:
    """An engine plus the way to open a unit of work on it.

    SQLite allows one writer; taking a process-wide lock before BEGIN IMMEDIATE
    queues writers in this process instead of letting SQLite's busy handler
    sleep-and-retry (which costs milliseconds per collision).

    ``after_events`` is called after every commit of a unit of work that recorded an
    event (heaven.store.events): every change of state the dashboard shows records one, so
    this one place tells its streams (heaven.control.changes.ChangeBell) of them. Measured
    figures (CPU%, RSS) record none: the streams read them again every few seconds.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._serialize = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self.after_events: Callable[[], None] | None = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self._writer() as conn:
            conn.info.pop(RECORDED, None)  # the info outlives the checkout: a rolled-back mark is not ours
            yield conn
            recorded = conn.info.pop(RECORDED, False)
        if recorded and self.after_events is not None:  # committed (an exception skips this)
            try:
                self.after_events()
            except Exception:  # the write is committed: a bell that cannot ring (shutting down) must not fail it
                log.exception("after-commit hook failed")

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        if self._serialize is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._serialize, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only unit of work: one consistent snapshot, no write lock, never queued
        behind writers. SQLite reads its WAL snapshot (a deferred BEGIN); PostgreSQL runs a
        READ ONLY transaction at REPEATABLE READ (one snapshot for all its statements, and
        a write through it fails loudly)."""
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            else:
                conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
