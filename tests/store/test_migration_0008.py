"""A database written before revision 0008 upgrades in place: its clusters keep
their ids and quotas, new clusters get fresh ids (PostgreSQL's sequence moves on),
two organizations may then both name a cluster "gpu", and old jobs are not held."""
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from heaven.store.engine import make_engine, migrate
from heaven.store.tables import clusters, jobs
from tests.store.migrating import insert_old_job, upgrade_to


def test_an_0007_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        upgrade_to(engine, "0007")
        with engine.begin() as conn:
            for name in ("one", "two"):
                conn.execute(text("INSERT INTO organizations (name, invite_code, created_at) VALUES (:n, :n, 1)"),
                             {"n": name})
            one, two = conn.execute(text("SELECT id FROM organizations ORDER BY id")).scalars().all()
            conn.execute(text("INSERT INTO clusters (org_id, name, quota_cores) VALUES (:org, 'gpu', 4)"), {"org": one})
            insert_old_job(conn, one)
        migrate(engine)
        with engine.begin() as conn:
            old = conn.execute(select(clusters.c.id, clusters.c.org_id, clusters.c.quota_cores)).one()
            assert (old.org_id, old.quota_cores) == (one, 4)
            new_id = conn.execute(insert(clusters).values(org_id=two, name="gpu")).inserted_primary_key[0]
            assert new_id != old.id
            assert conn.execute(select(jobs.c.held, jobs.c.restarts)).one() == (False, 0)
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(clusters).values(org_id=two, name="gpu"))
    finally:
        engine.dispose()
