"""A database written at revision 0010 upgrades in place to 0013 (through 0011 and 0012): its nodes keep their rows
and announce no disconnect grace (the sweep then takes them down right after the timeout)."""
from sqlalchemy import select, text

from heaven.store import nodes as node_rows
from heaven.store.engine import make_engine, migrate
from heaven.store.tables import nodes
from tests.store.migrating import upgrade_to


def test_an_0010_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        upgrade_to(engine, "0010")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name, invite_code, created_at) VALUES ('one', 'one', 1)"))
            org = conn.execute(text("SELECT id FROM organizations")).scalar_one()
            conn.execute(text("INSERT INTO nodes (org_id, name, cluster, endpoint, kind, core_offset, local_cores,"
                              " reserved, memory_mb, storage_mb, gpus, state, last_heartbeat, telemetry)"
                              " VALUES (:org, 'old', 'default', '', 'heaven', 0, '[0]', '[]', 0, 0, 0, 'up', 5, '{}')"),
                         {"org": org})
        migrate(engine)
        with engine.begin() as conn:
            assert conn.execute(select(nodes.c.name, nodes.c.disconnect_grace)).one() == ("old", None)
            assert node_rows.silent_since(conn, 10.0)[0]["disconnect_grace"] == 0.0
    finally:
        engine.dispose()
