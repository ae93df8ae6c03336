"""The remembered callers: a lookup that raced an identity write is not kept, entries
expire, and revocations through the API take effect on the very next request."""
from heaven.control.caller_cache import CallerCache
from tests.control.conftest import person


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_kept_for_its_seconds_only():
    clock = Clock()
    cache = CallerCache(5.0, clock)
    cache.store("t", "alice", cache.generation())
    assert cache.get("t") == "alice"
    clock.now += 5.0
    assert cache.get("t") is None


def test_a_lookup_that_began_before_a_forget_is_not_kept():
    cache = CallerCache(5.0, Clock())
    began = cache.generation()
    cache.forget()  # a logout committed while the lookup read the old state
    cache.store("t", "alice", began)
    assert cache.get("t") is None


def test_zero_seconds_keeps_nothing():
    cache = CallerCache(0.0, Clock())
    cache.store("t", "alice", cache.generation())
    assert cache.get("t") is None


def test_a_removed_member_cannot_submit_into_the_organization_on_the_next_request(auth_app):
    api = auth_app()
    alice, bob = person(api, "alice"), person(api, "bob")
    acme = api.post("/api/v1/organizations", json={"name": "acme"}, headers=alice).json()
    assert api.post("/api/v1/organizations/join", json={"invite_code": acme["invite_code"]},
                    headers=bob).status_code == 200
    job = {"command": ["true"], "cores": 1}
    assert api.post("/api/v1/jobs", json=job, headers=bob).json()["org_id"] == acme["id"]  # bob is remembered
    bob_id = api.get("/api/v1/auth/me", headers=bob).json()["id"]
    assert api.delete(f"/api/v1/organizations/{acme['id']}/members/{bob_id}", headers=alice).status_code == 204
    refused = api.post("/api/v1/jobs", json=job, headers=bob)
    assert refused.status_code == 403 and refused.json()["error"] == "no_organization"
