"""A database written before revision 0005 upgrades in place: its organizations get
invite codes, its jobs keep their organization."""
from sqlalchemy import insert, select, text

from heaven.store.engine import make_engine, migrate
from heaven.store.tables import organizations
from tests.store.migrating import insert_old_job, upgrade_to


def test_an_0004_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        upgrade_to(engine, "0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name) VALUES ('default'), ('research')"))
            org_id = conn.execute(text("SELECT id FROM organizations WHERE name = 'default'")).scalar_one()
            insert_old_job(conn, org_id)
        migrate(engine)
        with engine.connect() as conn:
            orgs = conn.execute(select(organizations).order_by(organizations.c.id)).all()
            assert [o.name for o in orgs] == ["default", "research"]
            codes = [o.invite_code for o in orgs]
            assert all(len(c) >= 20 for c in codes) and len(set(codes)) == 2
            assert all(o.created_at > 0 for o in orgs)
            assert conn.execute(text("SELECT org_id FROM jobs")).scalar_one() == org_id
            assert conn.execute(text("SELECT count(*) FROM people")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_fresh_database_seeds_the_default_organization_with_a_code(engine):
    with engine.begin() as conn:
        row = conn.execute(select(organizations).where(organizations.c.name == "default")).one()
        assert row.invite_code and row.created_at
        conn.execute(insert(organizations).values(name="x", invite_code="abc", created_at=1.0))
