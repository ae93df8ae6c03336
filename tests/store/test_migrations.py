"""The Alembic migrations build exactly the schema the code declares."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from heaven.store.tables import metadata


def _meaningful(diff) -> bool:
    # Server defaults and index naming are not part of the contract we check here.
    kind = diff[0][0] if isinstance(diff, list) else diff[0]
    return kind not in ("modify_default", "add_index", "remove_index")


def test_migrated_schema_matches_the_tables(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if _meaningful(d)] == []


def test_migrating_twice_is_harmless(engine):
    from heaven.store.engine import migrate

    migrate(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None
