"""A database written at revision 0008 upgrades in place to 0010: its jobs keep their rows
and have no release time (none of them was a started deployment)."""
from sqlalchemy import select, text

from heaven.store.engine import make_engine, migrate
from heaven.store.tables import jobs
from tests.store.migrating import insert_old_job, upgrade_to


def test_an_0008_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        upgrade_to(engine, "0008")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name, invite_code, created_at) VALUES ('one', 'one', 1)"))
            insert_old_job(conn, conn.execute(text("SELECT id FROM organizations")).scalar_one())
        migrate(engine)
        with engine.begin() as conn:
            assert conn.execute(select(jobs.c.name, jobs.c.released_at)).one() == ("old", None)
    finally:
        engine.dispose()
