"""Bad input to the auth and organization routes: a 4xx naming the field and the limit, never a 500."""
import pytest

from tests.control.conftest import person

OK = {"username": "carol", "email": "carol@example.org", "password": "p" * 12}

BAD = [
    # (method, path, json body, form body, status, field, words in the message)
    ("POST", "/api/v1/auth/register", {}, None, 422, "username", ["required"]),
    ("POST", "/api/v1/auth/register", OK | {"username": "ab"}, None, 422, "username", ["at least 3"]),
    ("POST", "/api/v1/auth/register", OK | {"username": "a" * 65}, None, 422, "username", ["at most 64"]),
    ("POST", "/api/v1/auth/register", OK | {"username": "bad name"}, None, 422, "username", ["pattern"]),
    ("POST", "/api/v1/auth/register", OK | {"username": "\u00e9mile"}, None, 422, "username", ["pattern"]),
    ("POST", "/api/v1/auth/register", OK | {"email": "nobody"}, None, 422, "email", ["pattern"]),
    ("POST", "/api/v1/auth/register", OK | {"email": "x@" + "a" * 260 + ".org"}, None, 422, "email", ["at most 254"]),
    ("POST", "/api/v1/auth/register", OK | {"password": "short"}, None, 422, "password", ["8 to 1024"]),
    ("POST", "/api/v1/auth/register", OK | {"password": "p" * 1025}, None, 422, "password", ["8 to 1024"]),
    # a lone surrogate, as JSON escapes let a client send it (httpx itself refuses to encode one)
    ("POST", "/api/v1/auth/register", b'{"username": "carol", "email": "c@example.org", "password": "\\ud800abcdefgh"}',
     None, 422, "password", ["Unicode"]),
    ("POST", "/api/v1/auth/register", OK | {"password": 12345678}, None, 422, "password", ["string"]),
    ("POST", "/api/v1/auth/register", OK | {"admin": True}, None, 422, "admin", ["not a known field"]),
    ("POST", "/api/v1/auth/register", OK | {"username": "alice"}, None, 409, "username", ["already registered"]),
    ("POST", "/api/v1/auth/register", OK | {"email": "ALICE@example.org"}, None, 409, "email", ["already registered"]),
    ("POST", "/api/v1/auth/token", None, {}, 422, "username", ["required"]),
    ("POST", "/api/v1/auth/token", None, {"username": "alice"}, 422, "password", ["required"]),
    ("POST", "/api/v1/auth/token", None, {"username": "a" * 65, "password": "x"}, 422, "username", ["at most 64"]),
    ("POST", "/api/v1/auth/token", None, {"username": "alice", "password": "p" * 1025}, 422, "password",
     ["at most 1024"]),
    ("POST", "/api/v1/auth/token", None, {"username": "alice", "password": "x", "grant_type": "code"}, 422,
     "grant_type", ["pattern"]),
    ("POST", "/api/v1/auth/tokens", {}, None, 422, "name", ["required"]),
    ("POST", "/api/v1/auth/tokens", {"name": "x" * 101}, None, 422, "name", ["at most 100"]),
    ("POST", "/api/v1/auth/tokens", {"name": "x", "expires_in_days": 0}, None, 422, "expires_in_days",
     ["greater than or equal to 1"]),
    ("POST", "/api/v1/auth/tokens", {"name": "x", "expires_in_days": 10**6}, None, 422, "expires_in_days", ["3650"]),
    ("DELETE", "/api/v1/auth/tokens/0", None, None, 422, "token_id", ["greater than or equal to 1"]),
    ("DELETE", "/api/v1/auth/tokens/99999999999", None, None, 422, "token_id", ["2147483647"]),
    ("DELETE", "/api/v1/auth/tokens/abc", None, None, 422, "token_id", ["integer"]),
    ("DELETE", "/api/v1/auth/tokens/77", None, None, 404, "token", ["77"]),
    ("POST", "/api/v1/organizations", {}, None, 422, "name", ["required"]),
    ("POST", "/api/v1/organizations", {"name": ""}, None, 422, "name", ["at least 1"]),
    ("POST", "/api/v1/organizations", {"name": "x" * 101}, None, 422, "name", ["at most 100"]),
    ("POST", "/api/v1/organizations", {"name": "<script>"}, None, 422, "name", ["pattern"]),
    ("POST", "/api/v1/organizations", {"name": "acme"}, None, 409, "name", ["exists already"]),
    ("POST", "/api/v1/organizations/join", {"invite_code": "x" * 65}, None, 422, "invite_code", ["at most 64"]),
    ("POST", "/api/v1/organizations/join", {"invite_code": "no such"}, None, 422, "invite_code", ["pattern"]),
    ("POST", "/api/v1/organizations/join", {"invite_code": "nosuchcode"}, None, 404, "invite_code", ["no organization"]),
    ("GET", "/api/v1/organizations/0", None, None, 422, "org_id", ["greater than or equal to 1"]),
    ("GET", "/api/v1/organizations/3000000000", None, None, 422, "org_id", ["2147483647"]),
    ("GET", "/api/v1/organizations/2/members/x", None, None, 405, None, []),
    ("PATCH", "/api/v1/organizations/2/members/0", {"role": "member"}, None, 422, "person_id", ["greater than"]),
    ("PATCH", "/api/v1/organizations/2/members/1", {"role": "king"}, None, 422, "role", ["owner", "admin", "member"]),
    ("PATCH", "/api/v1/organizations/2/members/99", {"role": "admin"}, None, 404, "person_id", ["not a member"]),
    ("DELETE", "/api/v1/organizations/2/members/99", None, None, 404, "person_id", ["not a member"]),
    ("PATCH", "/api/v1/organizations/2", {"name": "default"}, None, 409, "name", ["exists already"]),
]


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory):
    """One controller for the whole table: alice owns acme (id 2)."""
    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient

    from heaven.config import ControllerSettings
    from heaven.control import passwords
    from heaven.control.app import create_app

    passwords._hasher, saved = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1), passwords._hasher
    db = tmp_path_factory.mktemp("bad") / "heaven.db"
    with TestClient(create_app(ControllerSettings(database_url=f"sqlite:///{db}", scheduler_interval=60,
                                                  auth_rate_per_minute=10_000))) as api:
        headers = person(api, "alice")
        assert api.post("/api/v1/organizations", json={"name": "acme"}, headers=headers).json()["id"] == 2
        yield api, headers
    passwords._hasher = saved


def _state(api, headers) -> tuple:
    return (api.get("/api/v1/organizations", headers=headers).json(),
            api.get("/api/v1/organizations/2/members", headers=headers).json(),
            api.get("/api/v1/auth/tokens", headers=headers).json(), api.get("/api/v1/events").json())


@pytest.mark.parametrize("method,path,body,form,status,field,words", BAD,
                         ids=[f"{m} {p} {b or f}"[:90] for m, p, b, f, *_ in BAD])
def test_bad_input_is_refused_clearly_and_changes_nothing(signed_in, method, path, body, form, status, field, words):
    api, headers = signed_in
    before = _state(api, headers)
    raw = isinstance(body, bytes)
    answer = api.request(method, path, json=None if raw else body, content=body if raw else None, data=form,
                         headers=headers | ({"content-type": "application/json"} if raw else {}))
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert {"error", "message", "field"} <= set(error)
    assert error["field"] == field, error
    for word in words:
        assert word in error["message"], error
    assert _state(api, headers) == before
