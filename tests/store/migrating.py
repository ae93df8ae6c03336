"""Helpers for the tests that upgrade a database written at an older revision."""
import time

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from heaven.store.engine import MIGRATIONS


def upgrade_to(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def insert_old_job(conn, org_id: int) -> None:
    """A finished batch job with only the columns every revision since 0003 has."""
    conn.execute(text(
        "INSERT INTO jobs (org_id, name, kind, command, cores, min_cores, memory_mb, storage_mb, gpus, priority,"
        " state, reason, gpu_ids, pids, submitted_at, runs, depends_on, usage, nodes, part_exits)"
        " VALUES (:org, 'old', 'batch', '[\"true\"]', 1, 1, 0, 0, 0, 0, 'succeeded', '', '[]', '[]', :now, 1,"
        " '[]', '[]', 1, '{}')"), {"org": org_id, "now": time.time()})
