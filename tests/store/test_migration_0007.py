"""A database written before revision 0007 upgrades in place: its nodes have no
credential (their agents must join again with a join token) and keep everything else."""
from sqlalchemy import select, text

from heaven.control.node_auth import issue_join_token
from heaven.control.tokens import hash_api_token
from heaven.store import join_tokens
from heaven.store.engine import make_engine, migrate
from heaven.store.tables import nodes
from tests.store.migrating import upgrade_to


def test_an_0006_database_upgrades_in_place(store_url):
    engine = make_engine(store_url)
    try:
        upgrade_to(engine, "0006")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (name, invite_code, created_at) VALUES ('default', 'c0de', 1)"))
            org_id = conn.execute(text("SELECT id FROM organizations")).scalar_one()
            conn.execute(text(
                "INSERT INTO nodes (org_id, name, cluster, endpoint, kind, core_offset, local_cores, reserved, memory_mb,"
                " storage_mb, gpus, state, last_heartbeat, telemetry)"
                " VALUES (:org, 'old', 'default', '', 'heaven', 0, '[0, 1]', '[]', 1000, 0, 0, 'up', 1, '{}')"),
                {"org": org_id})
        migrate(engine)
        with engine.begin() as conn:
            row = conn.execute(select(nodes.c.name, nodes.c.local_cores, nodes.c.credential_hash)).one()
            assert (row.name, row.local_cores, row.credential_hash) == ("old", [0, 1], None)
            assert join_tokens.node_credential(conn, "old") is None  # it must join again
            made = issue_join_token(conn, org_id, "agents", 2.0, "test")  # the upgraded table takes new tokens
            assert join_tokens.joining(conn, hash_api_token(made["token"])) == (org_id, None)
    finally:
        engine.dispose()
