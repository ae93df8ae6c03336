"""Bearer tokens: what is accepted, and every way one is refused (401, WWW-Authenticate)."""
import base64
import json

import jwt
import pytest

from heaven.control.tokens import AUDIENCE
from tests.control.conftest import login, person


def _refused(answer, words: str, field: str | None = "Authorization") -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    body = answer.json()
    assert body["error"] == "unauthorized" and body["field"] == field
    assert words in body["message"], body


def _claims(headers: dict) -> dict:
    return jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})


def _key(client) -> str:
    return client.app.state.auth.access._key


def test_password_login_answers_a_short_lived_jwt_with_every_claim(auth_app, clock):
    api = auth_app()
    api.post("/api/v1/auth/register", json={"username": "Alice", "email": "A@Example.org", "password": "p" * 12})
    answer = api.post("/api/v1/auth/token", data={"username": "ALICE", "password": "p" * 12, "grant_type": "password"})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    claims = jwt.decode(body["access_token"], _key(api), algorithms=["HS256"], audience=AUDIENCE,
                        options={"verify_exp": False, "verify_iat": False})
    assert set(claims) == {"sub", "exp", "iat", "aud", "jti"}
    assert claims["exp"] - claims["iat"] == 15 * 60 and claims["iat"] == int(clock.now)
    me = api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me["username"] == "alice" and me["email"] == "a@example.org"


@pytest.mark.parametrize("form", [{"username": "alice", "password": "wrong password"},
                                  {"username": "nobody", "password": "p" * 12}])
def test_a_wrong_login_is_401_and_does_not_say_which_part(auth_app, form):
    api = auth_app()
    person(api, "alice", "p" * 12)
    _refused(api.post("/api/v1/auth/token", data=form), "wrong username or password", field=None)


def test_no_token_and_a_garbage_token_are_401(auth_app):
    api = auth_app()
    _refused(api.get("/api/v1/auth/me"), "Authorization: Bearer")
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.jwt"}), "malformed")
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": "Bearer " + "x" * 5000}), "too long")
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": "Basic YTpi"}), "Authorization: Bearer")


def test_an_expired_access_token_is_401(auth_app, clock):
    api = auth_app()
    headers = person(api, "alice")
    clock.advance(15 * 60 - 1)
    assert api.get("/api/v1/auth/me", headers=headers).status_code == 200
    clock.advance(1)
    _refused(api.get("/api/v1/auth/me", headers=headers), "expired")


def test_a_crafted_token_that_expired_is_401(auth_app, clock):
    api = auth_app()
    person(api, "alice")
    token = jwt.encode({"sub": "1", "iat": int(clock.now) - 100, "exp": int(clock.now) - 10, "aud": AUDIENCE,
                        "jti": "j1"}, _key(api), algorithm="HS256")
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), "expired")


def test_a_token_signed_with_another_key_is_401(auth_app, clock):
    api = auth_app()
    claims = _claims(person(api, "alice"))
    forged = jwt.encode(claims, "another key that is long enough to be a key", algorithm="HS256")
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}), "signature")


def test_alg_none_is_401(auth_app):
    api = auth_app()
    claims = _claims(person(api, "alice"))
    b64 = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {unsigned}"}), "signature")


def test_another_audience_is_401(auth_app):
    api = auth_app()
    claims = _claims(person(api, "alice")) | {"aud": "someone-else"}
    token = jwt.encode(claims, _key(api), algorithm="HS256")
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), "audience")


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "aud", "jti"])
def test_a_token_missing_a_claim_is_401(auth_app, missing):
    api = auth_app()
    claims = _claims(person(api, "alice"))
    del claims[missing]
    token = jwt.encode(claims, _key(api), algorithm="HS256")
    assert api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_logout_revokes_that_access_token_only(auth_app, clock):
    api = auth_app()
    first = person(api, "alice")
    second = login(api, "alice")
    assert api.post("/api/v1/auth/logout", headers=first).status_code == 204
    _refused(api.get("/api/v1/auth/me", headers=first), "revoked")
    assert api.get("/api/v1/auth/me", headers=second).status_code == 200
    # The revocation list forgets a jti once its token would have expired anyway.
    clock.advance(16 * 60)
    api.post("/api/v1/auth/logout", headers=login(api, "alice"))
    from sqlalchemy import select

    from heaven.store.tables import revoked_tokens
    with api.app.state.controller.store.read() as conn:
        assert len(conn.execute(select(revoked_tokens)).all()) == 1


def test_api_tokens_are_shown_once_used_listed_and_revoked(auth_app, clock):
    api = auth_app()
    headers = person(api, "alice")
    created = api.post("/api/v1/auth/tokens", json={"name": "laptop", "expires_in_days": 1}, headers=headers)
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("hph_") and len(secret) > 40
    token_headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/auth/me", headers=token_headers).json()["username"] == "alice"
    listed = api.get("/api/v1/auth/tokens", headers=token_headers).json()
    assert [t["name"] for t in listed] == ["laptop"] and "token" not in listed[0]
    assert secret not in api.get("/api/v1/auth/tokens", headers=headers).text
    token_id = listed[0]["id"]
    assert api.delete(f"/api/v1/auth/tokens/{token_id}", headers=headers).status_code == 204
    _refused(api.get("/api/v1/auth/me", headers=token_headers), "revoked")
    assert api.delete(f"/api/v1/auth/tokens/{token_id}", headers=headers).status_code == 404


def test_an_api_token_expires_and_logout_with_one_deletes_it(auth_app, clock):
    api = auth_app()
    headers = person(api, "alice")
    secret = api.post("/api/v1/auth/tokens", json={"name": "ci", "expires_in_days": 1}, headers=headers).json()["token"]
    clock.advance(86400)
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}), "expired")
    other = api.post("/api/v1/auth/tokens", json={"name": "cli"}, headers=login(api, "alice")).json()["token"]
    assert api.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {other}"}).status_code == 204
    _refused(api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {other}"}), "revoked")
    assert [t["name"] for t in api.get("/api/v1/auth/tokens", headers=login(api, "alice")).json()] == ["ci"]


def test_someone_elses_token_cannot_be_revoked(auth_app):
    api = auth_app()
    alice, bob = person(api, "alice"), person(api, "bob")
    token_id = api.post("/api/v1/auth/tokens", json={"name": "x"}, headers=alice).json()["id"]
    answer = api.delete(f"/api/v1/auth/tokens/{token_id}", headers=bob)
    assert answer.status_code == 404 and answer.json()["field"] == "token"
    assert len(api.get("/api/v1/auth/tokens", headers=alice).json()) == 1


def test_a_person_may_hold_a_bounded_number_of_api_tokens(auth_app, monkeypatch):
    from heaven.control.routers import auth

    monkeypatch.setattr(auth, "MAX_TOKENS_PER_PERSON", 2)
    api = auth_app()
    headers = person(api, "alice")
    for name in ("a", "b"):
        assert api.post("/api/v1/auth/tokens", json={"name": name}, headers=headers).status_code == 201
    refused = api.post("/api/v1/auth/tokens", json={"name": "c"}, headers=headers)
    assert refused.status_code == 409 and "at most 2" in refused.json()["message"]
