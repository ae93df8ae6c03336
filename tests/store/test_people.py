"""People, API tokens and revoked jtis in the store, on SQLite and PostgreSQL. The data
functions never commit: a rolled-back unit of work leaves nothing behind."""
import pytest

from heaven.store import people


class Rollback(Exception):
    pass


def test_a_person_and_their_tokens(engine):
    with engine.begin() as conn:
        alice = people.add(conn, "alice", "a@example.org", "$argon2id$fake", 10.0)
        assert people.taken(conn, "alice", "x@example.org") == "username"
        assert people.taken(conn, "bob", "a@example.org") == "email"
        assert people.taken(conn, "bob", "b@example.org") is None
        assert "password_hash" not in people.get(conn, alice)
        assert people.login_row(conn, "alice")["password_hash"] == "$argon2id$fake"
        token = people.add_token(conn, alice, "cli", "h" * 64, 11.0, None)
        assert people.by_token_hash(conn, "h" * 64) == {"token_id": token["id"], "expires_at": None,
                                                        "person_id": alice, "username": "alice"}
        assert people.count_tokens(conn, alice) == 1 and [t["name"] for t in people.tokens_of(conn, alice)] == ["cli"]
        assert not people.delete_token(conn, alice + 1, token["id"])  # not theirs
        assert people.delete_token(conn, alice, token["id"])
        assert people.by_token_hash(conn, "h" * 64) is None


def test_revoked_jtis_are_pruned_once_expired(engine):
    with engine.begin() as conn:
        people.revoke_jti(conn, "old", 100.0, now=50.0)
        people.revoke_jti(conn, "old", 100.0, now=50.0)  # twice is harmless
        assert people.is_revoked(conn, "old")
        people.revoke_jti(conn, "new", 300.0, now=200.0)
        assert not people.is_revoked(conn, "old") and people.is_revoked(conn, "new")


def test_nothing_commits_on_its_own(engine):
    with pytest.raises(Rollback):
        with engine.begin() as conn:
            people.add(conn, "alice", "a@example.org", "$argon2id$fake", 10.0)
            raise Rollback
    with engine.connect() as conn:
        assert people.login_row(conn, "alice") is None
