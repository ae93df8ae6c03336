"""A database written before revision 0006 upgrades in place: its jobs keep their
organization and have no owner."""
import time

from sqlalchemy import text

from heaven.store.engine import make_engine, migrate
from tests.store.test_migration_0005 import _upgrade_to


def test_an_0005_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        _upgrade_to(engine, "0005")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name, invite_code, created_at) VALUES ('default', 'c0de', 1)"))
            org_id = conn.execute(text("SELECT id FROM organizations WHERE name = 'default'")).scalar_one()
            conn.execute(text(
                "INSERT INTO jobs (org_id, name, kind, command, cores, min_cores, memory_mb, storage_mb, gpus, priority,"
                " state, reason, gpu_ids, pids, submitted_at, runs, depends_on, usage, nodes, part_exits)"
                " VALUES (:org, 'old', 'batch', '[\"true\"]', 1, 1, 0, 0, 0, 0, 'succeeded', '', '[]', '[]', :now, 1,"
                " '[]', '[]', 1, '{}')"), {"org": org_id, "now": time.time()})
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT org_id, owner_id FROM jobs")).one() == (org_id, None)
    finally:
        engine.dispose()
