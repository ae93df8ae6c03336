"""register and token: 10 a minute per client address, then 429 with Retry-After."""
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
