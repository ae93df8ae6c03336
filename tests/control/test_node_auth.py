"""Agents authenticate as nodes (heaven.control.node_auth): they join with an organization's
join token and send the node credential it was traded for on every later call."""
import pytest

from tests.control.conftest import person

ORGS = "/api/v1/organizations"
NODE = {"name": "rack1", "local_cores": [0, 1], "memory_mb": 100}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def acme(auth_app):
    """alice owns acme; bob is a member of it."""
    api = auth_app()
    alice, bob = person(api, "alice"), person(api, "bob")
    org = api.post(ORGS, json={"name": "acme"}, headers=alice).json()
    assert api.post(f"{ORGS}/join", json={"invite_code": org["invite_code"]}, headers=bob).status_code == 200
    made = api.post(f"{ORGS}/{org['id']}/join-tokens", json={"name": "rack"}, headers=alice)
    assert made.status_code == 201, made.text
    return api, org, alice, bob, made.json()


def test_only_an_admin_makes_join_tokens_and_their_secret_is_shown_once(acme):
    api, org, alice, bob, made = acme
    assert made["token"].startswith("hpj_") and made["org_id"] == org["id"]
    assert api.post(f"{ORGS}/{org['id']}/join-tokens", json={"name": "x"}, headers=bob).status_code == 403
    carol = person(api, "carol")
    assert api.post(f"{ORGS}/{org['id']}/join-tokens", json={"name": "x"}, headers=carol).status_code == 404
    listed = api.get(f"{ORGS}/{org['id']}/join-tokens", headers=alice).json()
    assert [t["name"] for t in listed] == ["rack"] and "token" not in listed[0]


def test_registering_needs_a_join_token(acme):
    api, org, alice, bob, made = acme
    for headers in ({"Authorization": ""}, alice, bearer("hpj_" + "x" * 43), bearer(made["token"] + "x")):
        refused = api.post("/api/v1/agents/register", json=NODE, headers=headers)
        assert refused.status_code == 401 and refused.json()["field"] == "Authorization", refused.text
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.delete(f"{ORGS}/{org['id']}/join-tokens/{made['id']}", headers=alice).status_code == 204
    revoked = api.post("/api/v1/agents/register", json=NODE, headers=bearer(made["token"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["message"]


def test_a_joined_node_calls_with_its_own_credential_only(acme):
    api, org, alice, bob, made = acme
    joined = api.post("/api/v1/agents/register", json=NODE, headers=bearer(made["token"]))
    assert joined.status_code == 200, joined.text
    credential = joined.json()["credential"]
    assert credential.startswith("hpn_")
    other = api.post("/api/v1/agents/register", json={**NODE, "name": "rack2", "local_cores": [2]},
                     headers=bearer(made["token"])).json()["credential"]
    paths = [("POST", "/api/v1/agents/rack1/report", {}), ("GET", "/api/v1/agents/rack1/assignments", None)]
    for method, path, body in paths:
        assert api.request(method, path, json=body, headers=bearer(credential)).status_code == 200
        for wrong in ({"Authorization": ""}, bearer(other), bearer(made["token"]), alice):
            refused = api.request(method, path, json=body, headers=wrong)
            assert refused.status_code == 401, (wrong, refused.text)
    # Joining again (an agent restarted) replaces the credential: the old one stops working.
    again = api.post("/api/v1/agents/register", json=NODE, headers=bearer(made["token"])).json()["credential"]
    assert api.post("/api/v1/agents/rack1/report", json={}, headers=bearer(credential)).status_code == 401
    assert api.post("/api/v1/agents/rack1/report", json={}, headers=bearer(again)).status_code == 200


def test_a_node_joins_its_tokens_organization_and_keeps_its_name_there(acme):
    from heaven.store import nodes

    api, org, alice, bob, made = acme
    assert api.post("/api/v1/agents/register", json=NODE, headers=bearer(made["token"])).status_code == 200
    with api.app.state.controller.store.read() as conn:
        assert nodes.get(conn, "rack1")["org_id"] == org["id"]
    # The default organization's join token (heaven up's) cannot take that node over.
    taken = api.post("/api/v1/agents/register", json=NODE)
    assert taken.status_code == 409 and taken.json()["field"] == "name"
