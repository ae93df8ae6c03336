"""A database written before revision 0006 upgrades in place: its jobs keep their
organization and have no owner."""
from sqlalchemy import text

from heaven.store.engine import make_engine, migrate
from tests.store.migrating import insert_old_job, upgrade_to


def test_an_0005_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        upgrade_to(engine, "0005")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name, invite_code, created_at) VALUES ('default', 'c0de', 1)"))
            org_id = conn.execute(text("SELECT id FROM organizations WHERE name = 'default'")).scalar_one()
            insert_old_job(conn, org_id)
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT org_id, owner_id FROM jobs")).one() == (org_id, None)
    finally:
        engine.dispose()
