"""The job routes see and touch only the caller's organizations' jobs (heaven.control.scope).

alice owns acme, bob is a member of it and dave its admin; carol owns beta; erin is in
no organization. Another organization's job answers 404 on every job route, exactly
as a missing one; within acme only a job's owner or an admin may cancel it or read its logs.
"""
import pytest

from tests.control.conftest import person

JOBS = "/api/v1/jobs"
ORGS = "/api/v1/organizations"


@pytest.fixture
def world(auth_app):
    api = auth_app()
    assert api.post("/api/v1/agents/register", json={"name": "n1", "local_cores": [0], "memory_mb": 100}).status_code == 200
    h = {name: person(api, name) for name in ("alice", "bob", "carol", "dave", "erin")}
    acme = api.post(ORGS, json={"name": "acme"}, headers=h["alice"]).json()
    beta = api.post(ORGS, json={"name": "beta"}, headers=h["carol"]).json()
    for name in ("bob", "dave"):
        assert api.post(f"{ORGS}/join", json={"invite_code": acme["invite_code"]}, headers=h[name]).status_code == 200
    dave_id = api.get("/api/v1/auth/me", headers=h["dave"]).json()["id"]
    assert api.patch(f"{ORGS}/{acme['id']}/members/{dave_id}", json={"role": "admin"},
                     headers=h["alice"]).status_code == 200
    return api, h, acme, beta


def _submit(api, who: dict, **fields) -> dict:
    answer = api.post(JOBS, json={"command": ["sleep", "60"], "cores": 1, **fields}, headers=who)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_job_belongs_to_its_submitter_and_their_organization(world):
    api, h, acme, beta = world
    job = _submit(api, h["alice"])
    me = api.get("/api/v1/auth/me", headers=h["alice"]).json()
    assert (job["org_id"], job["owner_id"]) == (acme["id"], me["id"])
    assert _submit(api, h["carol"], org="beta")["org_id"] == beta["id"]
    assert _submit(api, h["carol"], org=str(beta["id"]))["org_id"] == beta["id"]


def test_submitting_needs_a_person_and_an_organization_of_theirs(world):
    api, h, acme, beta = world
    anonymous = api.post(JOBS, json={"command": ["true"]}, headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    lonely = api.post(JOBS, json={"command": ["true"]}, headers=h["erin"])
    assert lonely.status_code == 403
    assert lonely.json()["field"] == "org" and "heaven org create" in lonely.json()["message"]
    for other in ("beta", str(beta["id"]), "nosuch", "999999"):
        refused = api.post(JOBS, json={"command": ["true"], "org": other}, headers=h["alice"])
        assert refused.status_code == 404 and refused.json() == {
            "error": "not_found", "message": f"organization {other} does not exist", "field": "org"}
    assert api.get(JOBS, headers=h["alice"]).json() == []  # nothing was written


@pytest.mark.parametrize("method,suffix", [("GET", ""), ("POST", "/cancel"), ("GET", "/logs")])
def test_another_organizations_job_answers_as_a_missing_one(world, method, suffix):
    api, h, acme, beta = world
    job = _submit(api, h["carol"])
    for who in ("alice", "bob", "dave", "erin"):
        answer = api.request(method, f"{JOBS}/{job['id']}{suffix}", headers=h[who])
        missing = api.request(method, f"{JOBS}/999999{suffix}", headers=h[who])
        assert answer.status_code == missing.status_code == 404, answer.text
        assert answer.json()["message"] == f"job {job['id']} does not exist"


def test_listing_and_events_show_only_the_callers_organizations(world):
    api, h, acme, beta = world
    ours, theirs = _submit(api, h["bob"]), _submit(api, h["carol"])
    assert [j["id"] for j in api.get(JOBS, headers=h["alice"]).json()] == [ours["id"]]
    assert [j["id"] for j in api.get(JOBS, headers=h["carol"]).json()] == [theirs["id"]]
    assert api.get(JOBS, headers=h["erin"]).json() == []
    seen = {e["job"] for e in api.get("/api/v1/events", headers=h["alice"]).json() if e["job"]}
    assert seen == {ours["id"]}
    assert api.get("/api/v1/events", params={"job": theirs["id"]}, headers=h["alice"]).json() == []
    assert api.get("/api/v1/events", headers=h["erin"]).json() == []


def test_a_dependency_on_another_organizations_job_is_unknown(world):
    api, h, acme, beta = world
    theirs = _submit(api, h["carol"])
    refused = api.post(JOBS, json={"command": ["true"], "after": [theirs["id"]]}, headers=h["alice"])
    assert refused.status_code == 422 and refused.json()["field"] == "after"


@pytest.mark.parametrize("method,suffix", [("POST", "/cancel"), ("GET", "/logs")])
def test_only_the_owner_or_an_admin_cancels_or_reads_logs(world, method, suffix):
    api, h, acme, beta = world
    job = _submit(api, h["alice"])
    refused = api.request(method, f"{JOBS}/{job['id']}{suffix}", headers=h["bob"])
    assert refused.status_code == 403 and refused.json()["field"] == "id"
    assert "only the job's owner or an admin" in refused.json()["message"]
    assert api.get(f"{JOBS}/{job['id']}", headers=h["bob"]).status_code == 200  # a member still sees it
    for who, owner in (("bob", "bob"), ("dave", "alice"), ("alice", "bob")):
        job_id = _submit(api, h[owner])["id"]
        answer = api.request(method, f"{JOBS}/{job_id}{suffix}", headers=h[who])
        # allowed: cancelled, or past the check to "no logs yet" (no agent runs here)
        assert answer.status_code == (200 if suffix == "/cancel" else 409), (who, answer.text)
