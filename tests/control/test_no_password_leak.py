"""A password appears in no answer, no event and no log line, whatever path it takes."""
import logging

from sqlalchemy import select

from heaven.store.tables import events, people

PASSWORD = "Tr0ub4dor&3-unmistakable"


def test_the_password_is_nowhere_but_in_its_hash(auth_app, caplog):
    caplog.set_level(logging.DEBUG)
    api = auth_app()
    answers = [
        api.post("/api/v1/auth/register", json={"username": "alice", "email": "a@example.org", "password": PASSWORD}),
        api.post("/api/v1/auth/register", json={"username": "alice", "email": "b@example.org", "password": PASSWORD}),
        api.post("/api/v1/auth/register", json={"username": "a b", "email": "b@example.org", "password": PASSWORD}),
        api.post("/api/v1/auth/register", json={"username": "bob", "email": "b@example.org", "password": PASSWORD * 50}),
        api.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD + "x"}),
        api.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD, "grant_type": "nope"}),
        api.post("/api/v1/auth/token", data={"username": "alice", "password": PASSWORD}),
    ]
    assert [a.status_code for a in answers] == [201, 409, 422, 422, 401, 422, 200]
    token = answers[-1].json()["access_token"]
    answers.append(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}))
    answers.append(api.get("/api/v1/events", params={"limit": 10000}))
    for answer in answers:
        assert PASSWORD not in answer.text
        assert PASSWORD not in str(answer.headers)
    with api.app.state.controller.store.read() as conn:
        recorded = [dict(r._mapping) for r in conn.execute(select(events))]
        stored_hash = conn.execute(select(people.c.password_hash)).scalar_one()
    assert recorded and all(PASSWORD not in str(e) for e in recorded)
    assert stored_hash.startswith("$argon2id$") and PASSWORD not in stored_hash
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in str(r.args) for r in caplog.records)
