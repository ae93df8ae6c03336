"""register and token: 10 a minute per client address; every API write: a budget per caller. Then 429 with Retry-After."""
from heaven.control.ratelimit import TokenBucket
from tests.control.conftest import FakeClock


def test_the_auth_routes_share_a_budget_per_address_and_say_when_to_retry(auth_app, clock):
    api = auth_app(auth_rate_per_minute=10)
    api.post("/api/v1/auth/register", json={"username": "alice", "email": "a@example.org", "password": "p" * 12})
    for _ in range(9):
        assert api.post("/api/v1/auth/token", data={"username": "alice", "password": "p" * 12}).status_code == 200
    refused = api.post("/api/v1/auth/token", data={"username": "alice", "password": "p" * 12})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "6"  # one request back every 6 s
    body = refused.json()
    assert body["error"] == "rate_limited" and "at most 10 a minute" in body["message"]
    assert api.post("/api/v1/auth/register", json={"username": "bob", "email": "b@example.org",
                                                   "password": "p" * 12}).status_code == 429
    assert api.get("/api/v1/auth/me").status_code == 401  # other routes are not limited
    clock.advance(6)
    assert api.post("/api/v1/auth/token", data={"username": "alice", "password": "p" * 12}).status_code == 200
    assert api.post("/api/v1/auth/token", data={"username": "alice", "password": "p" * 12}).status_code == 429


def test_each_address_has_its_own_bucket_and_a_full_minute_refills_it():
    clock = FakeClock()
    bucket = TokenBucket(3, clock)
    assert [bucket.take("a") for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a") == 20.0
    assert bucket.take("b") == 0
    clock.advance(600)
    assert [bucket.take("a") for _ in range(3)] == [0, 0, 0]  # never more than the capacity
    assert bucket.take("a") > 0


def test_the_buckets_kept_are_bounded(monkeypatch):
    from heaven.control import ratelimit

    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 5)
    bucket = TokenBucket(1, FakeClock())
    for i in range(50):
        bucket.take(f"10.0.0.{i}")
    assert len(bucket._buckets) == 5


def test_writes_are_limited_per_caller_before_anything_is_written(auth_app, clock):
    api = auth_app(write_rate_per_minute=3, auth_rate_per_minute=100)
    api.post("/api/v1/auth/register", json={"username": "alice", "email": "a@example.org", "password": "p" * 12})
    token = api.post("/api/v1/auth/token", data={"username": "alice", "password": "p" * 12}).json()["access_token"]
    alice = {"Authorization": f"Bearer {token}"}
    assert api.post("/api/v1/organizations", json={"name": "acme"}, headers=alice).status_code == 201  # write 1
    submit = {"command": ["true"], "cores": 1}
    answers = [api.post("/api/v1/jobs", json=submit, headers=alice) for _ in range(2)]
    assert [a.status_code for a in answers] == [201] * 2, answers[0].text
    refused = api.post("/api/v1/jobs", json=submit, headers=alice)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "20"  # one write back every 20 s
    assert refused.json() == {"error": "rate_limited", "field": None, "message": "too many writes from this caller: "
                              "at most 3 a minute (HEAVEN_WRITE_RATE_PER_MINUTE); retry in 20 s"}
    listed = api.get("/api/v1/jobs", headers=alice)  # reads are not limited, and the refused write wrote nothing
    assert listed.status_code == 200 and len(listed.json()) == 2
    other = api.post("/api/v1/jobs", json=submit, headers={"Authorization": "Bearer someone-else"})
    assert other.status_code == 401  # another caller has its own budget (and no valid token)
    clock.advance(20)
    assert api.post("/api/v1/jobs", json=submit, headers=alice).status_code != 429
    assert api.post("/api/v1/jobs", json=submit, headers=alice).status_code == 429
