"""Organizations: roles enforced by one dependency, another organization's ids answer 404."""
import pytest

from tests.control.conftest import person

ORGS = "/api/v1/organizations"


@pytest.fixture
def three(auth_app):
    """alice owns acme, bob joined it as a member, carol is in none."""
    api = auth_app()
    alice, bob, carol = person(api, "alice"), person(api, "bob"), person(api, "carol")
    acme = api.post(ORGS, json={"name": "acme"}, headers=alice).json()
    joined = api.post(f"{ORGS}/join", json={"invite_code": acme["invite_code"]}, headers=bob)
    assert joined.status_code == 200, joined.text
    return api, acme, {"alice": alice, "bob": bob, "carol": carol}


def _ids(api, acme, who) -> dict:
    return {m["username"]: m["id"] for m in api.get(f"{ORGS}/{acme['id']}/members", headers=who).json()}


def test_creator_owns_and_sees_the_invite_code_a_member_does_not(three):
    api, acme, h = three
    assert acme["role"] == "owner" and acme["members"] == 1 and len(acme["invite_code"]) >= 20
    as_bob = api.get(f"{ORGS}/{acme['id']}", headers=h["bob"]).json()
    assert as_bob["role"] == "member" and as_bob["invite_code"] is None and as_bob["members"] == 2
    members = api.get(f"{ORGS}/{acme['id']}/members", headers=h["bob"]).json()
    assert [(m["username"], m["role"]) for m in members] == [("alice", "owner"), ("bob", "member")]


def test_listing_shows_only_my_organizations_and_a_person_may_have_several(three):
    api, acme, h = three
    api.post(ORGS, json={"name": "bobs-lab"}, headers=h["bob"])
    assert [o["name"] for o in api.get(ORGS, headers=h["bob"]).json()] == ["acme", "bobs-lab"]
    assert [o["name"] for o in api.get(ORGS, headers=h["alice"]).json()] == ["acme"]
    assert api.get(ORGS, headers=h["carol"]).json() == []


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None), ("PATCH", "", {"name": "mine"}), ("DELETE", "", None),
    ("POST", "/invite/regenerate", None), ("GET", "/members", None),
    ("DELETE", "/members/1", None), ("PATCH", "/members/1", {"role": "admin"}),
])
def test_another_organization_answers_404_exactly_like_a_missing_one(three, method, suffix, body):
    api, acme, h = three
    theirs = api.request(method, f"{ORGS}/{acme['id']}{suffix}", json=body, headers=h["carol"])
    missing = api.request(method, f"{ORGS}/9999{suffix}", json=body, headers=h["carol"])
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["message"].replace(str(acme["id"]), "N") == missing.json()["message"].replace("9999", "N")
    assert api.get(f"{ORGS}/{acme['id']}", headers=h["alice"]).json()["name"] == "acme"


@pytest.mark.parametrize("method,suffix,body,least", [
    ("PATCH", "", {"name": "mine"}, "admin"), ("DELETE", "", None, "owner"),
    ("POST", "/invite/regenerate", None, "admin"), ("PATCH", "/members/1", {"role": "member"}, "owner"),
])
def test_a_member_without_the_role_gets_403(three, method, suffix, body, least):
    api, acme, h = three
    answer = api.request(method, f"{ORGS}/{acme['id']}{suffix}", json=body, headers=h["bob"])
    assert answer.status_code == 403, answer.text
    assert answer.json()["field"] == "role" and f"needs the {least} role" in answer.json()["message"]


def test_admins_rename_and_regenerate_the_old_code_stops_working(three):
    api, acme, h = three
    ids = _ids(api, acme, h["alice"])
    promoted = api.patch(f"{ORGS}/{acme['id']}/members/{ids['bob']}", json={"role": "admin"}, headers=h["alice"])
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert api.patch(f"{ORGS}/{acme['id']}", json={"name": "acme-labs"}, headers=h["bob"]).json()["name"] == "acme-labs"
    fresh = api.post(f"{ORGS}/{acme['id']}/invite/regenerate", headers=h["bob"]).json()["invite_code"]
    assert fresh != acme["invite_code"]
    stale = api.post(f"{ORGS}/join", json={"invite_code": acme["invite_code"]}, headers=h["carol"])
    assert stale.status_code == 404 and stale.json()["field"] == "invite_code"
    assert api.post(f"{ORGS}/join", json={"invite_code": fresh}, headers=h["carol"]).json()["role"] == "member"


def test_removing_members_follows_the_roles(three):
    api, acme, h = three
    api.post(f"{ORGS}/join", json={"invite_code": acme["invite_code"]}, headers=h["carol"])
    ids = _ids(api, acme, h["alice"])
    assert api.delete(f"{ORGS}/{acme['id']}/members/{ids['carol']}", headers=h["bob"]).status_code == 403  # member vs member
    api.patch(f"{ORGS}/{acme['id']}/members/{ids['bob']}", json={"role": "admin"}, headers=h["alice"])
    assert api.delete(f"{ORGS}/{acme['id']}/members/{ids['carol']}", headers=h["bob"]).status_code == 204  # admin removes member
    assert api.get(f"{ORGS}/{acme['id']}", headers=h["carol"]).status_code == 404  # carol is out
    owner = api.delete(f"{ORGS}/{acme['id']}/members/{ids['alice']}", headers=h["bob"])
    assert owner.status_code == 409 and "owner" in owner.json()["message"]
    assert api.delete(f"{ORGS}/{acme['id']}/members/{ids['bob']}", headers=h["bob"]).status_code == 204  # bob leaves
    assert api.delete(f"{ORGS}/{acme['id']}/members/{ids['bob']}", headers=h["alice"]).status_code == 404


def test_handing_ownership_over_keeps_exactly_one_owner(three):
    api, acme, h = three
    ids = _ids(api, acme, h["alice"])
    assert api.patch(f"{ORGS}/{acme['id']}/members/{ids['alice']}", json={"role": "member"}, headers=h["alice"]).status_code == 409
    assert api.patch(f"{ORGS}/{acme['id']}/members/{ids['bob']}", json={"role": "owner"}, headers=h["alice"]).status_code == 200
    roles = {m["username"]: m["role"] for m in api.get(f"{ORGS}/{acme['id']}/members", headers=h["bob"]).json()}
    assert roles == {"alice": "admin", "bob": "owner"}
    assert api.delete(f"{ORGS}/{acme['id']}", headers=h["alice"]).status_code == 403


def test_only_the_owner_deletes_and_only_an_empty_organization(three):
    api, acme, h = three
    assert api.delete(f"{ORGS}/{acme['id']}", headers=h["alice"]).status_code == 204
    assert api.get(f"{ORGS}/{acme['id']}", headers=h["bob"]).status_code == 404
    assert api.get(ORGS, headers=h["bob"]).json() == []


@pytest.mark.parametrize("path", [ORGS, "/organizations"])
def test_deleting_an_organization_takes_its_join_tokens_with_it(three, path):
    """They admitted to nothing once it had no nodes; their foreign key made the delete a 500."""
    api, acme, h = three
    made = api.post(f"{ORGS}/{acme['id']}/join-tokens", json={"name": "rack-1"}, headers=h["alice"])
    assert made.status_code == 201, made.text
    assert api.delete(f"{path}/{acme['id']}", headers=h["alice"]).status_code in (200, 204)
    joined = api.post("/api/v1/agents/register", json={"name": "n9", "local_cores": [0], "memory_mb": 100},
                      headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert joined.status_code == 401, joined.text


def test_an_organization_that_holds_jobs_is_not_deleted(three):
    api, acme, h = three
    job = api.post("/api/v1/jobs", json={"command": ["true"], "org": "acme"}, headers=h["bob"])
    assert job.status_code == 201 and job.json()["org_id"] == acme["id"], job.text
    refused = api.delete(f"{ORGS}/{acme['id']}", headers=h["alice"])
    assert refused.status_code == 409 and "1 jobs" in refused.json()["message"]


def test_names_are_unique_and_joining_twice_changes_nothing(three):
    api, acme, h = three
    taken = api.post(ORGS, json={"name": "acme"}, headers=h["carol"])
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    assert api.post(ORGS, json={"name": "default"}, headers=h["carol"]).status_code == 409
    again = api.post(f"{ORGS}/join", json={"invite_code": acme["invite_code"]}, headers=h["alice"])
    assert again.status_code == 200 and again.json()["role"] == "owner" and again.json()["members"] == 2


def test_a_role_read_before_the_write_is_checked_again_inside_it(three):
    """The dependency reads the role in its own transaction; a hand-over committed since
    must not let the former owner act as owner (nor leave two owners)."""
    from heaven.control.auth import Caller, Membership
    from heaven.control.errors import ApiError

    api, acme, h = three
    ids = _ids(api, acme, h["alice"])
    stale = Membership(acme["id"], "owner", Caller(ids["alice"], "alice"), "owner")
    assert api.patch(f"{ORGS}/{acme['id']}/members/{ids['bob']}", json={"role": "owner"},
                     headers=h["alice"]).status_code == 200
    with api.app.state.controller.store.begin() as conn, pytest.raises(ApiError) as refused:
        stale.reconfirm(conn)
    assert refused.value.status == 403 and "you are admin" in refused.value.message
