"""Store.begin tells ``after_events`` of every committed unit of work that recorded an event, and of no other."""
from heaven.store import events
from heaven.store.engine import Store


def _store(tmp_path) -> tuple[Store, list[str]]:
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    calls: list[str] = []
    store.after_events = lambda: calls.append("rung")
    return store, calls


def test_a_commit_that_recorded_events_calls_after_events_once_after_it_committed(tmp_path):
    store, calls = _store(tmp_path)
    with store.begin() as conn:
        events.record(conn, 1.0, "submit", "one")
        events.record_many(conn, [{"ts": 2.0, "action": "start", "detail": "", "actor": "system", "job": None,
                                   "node": None, "org_id": None}])
        assert calls == []  # not before the commit: a stream reading now would not see it yet
    assert calls == ["rung"]
    with store.read() as conn:
        assert [e["action"] for e in events.since(conn)] == ["submit", "start"]
    store.dispose()


def test_no_call_for_a_rollback_nor_for_a_write_without_events(tmp_path):
    store, calls = _store(tmp_path)
    try:
        with store.begin() as conn:
            events.record(conn, 1.0, "submit", "rolled back")
            rolled_back = conn.connection.dbapi_connection
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    assert calls == []
    reused = False
    for _ in range(100):  # until the pool hands out that connection again: its mark must not carry over
        with store.begin() as conn:
            events.record_many(conn, [])
            reused = conn.connection.dbapi_connection is rolled_back
        if reused:
            break
    assert reused and calls == []
    with store.read() as conn:
        assert events.since(conn) == []
    store.dispose()
