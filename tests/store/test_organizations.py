"""Organizations and memberships in the store, on SQLite and PostgreSQL."""
from sqlalchemy import insert

from heaven.store import organizations as orgs
from heaven.store import people
from heaven.store.engine import default_org_id
from heaven.store.tables import clusters


def test_create_join_roles_and_delete(engine):
    with engine.begin() as conn:
        alice = people.add(conn, "alice", "a@example.org", "x", 1.0)
        bob = people.add(conn, "bob", "b@example.org", "x", 1.0)
        acme = orgs.create(conn, "acme", alice, 2.0, "alice")
        assert orgs.name_taken(conn, "acme") and orgs.role_of(conn, acme, alice) == "owner"
        code = orgs.of_person(conn, alice)[0]["invite_code"]
        assert orgs.by_invite_code(conn, code) == acme
        orgs.add_member(conn, acme, bob, 3.0, "bob")
        assert [(o["name"], o["role"], o["members"]) for o in orgs.of_person(conn, bob)] == [("acme", "member", 2)]
        assert orgs.set_role(conn, acme, bob, "admin", 4.0, "alice")
        assert not orgs.set_role(conn, acme, bob, "member", 4.0, "alice", only_if="owner")
        assert [(m["username"], m["role"]) for m in orgs.members(conn, acme)] == [("alice", "owner"), ("bob", "admin")]
        orgs.regenerate_invite(conn, acme, 5.0, "bob")
        assert orgs.by_invite_code(conn, code) is None
        orgs.remove_member(conn, acme, bob, 6.0, "bob")
        assert orgs.of_person(conn, bob) == [] and orgs.of_person(conn, alice, org_id=acme)
        orgs.rename(conn, acme, "acme-labs", 7.0, "alice")
        assert orgs.holdings(conn, acme) == {}
        orgs.delete_org(conn, acme, 8.0, "alice")
        assert orgs.of_person(conn, alice) == [] and not orgs.name_taken(conn, "acme-labs")


def test_holdings_keep_an_organization(engine):
    with engine.begin() as conn:
        org_id = default_org_id(conn)
        conn.execute(insert(clusters).values(name="gpu", org_id=org_id))
        assert orgs.holdings(conn, org_id) == {"clusters": 1}
