"""People and organizations over real HTTP, with a real controller process and the real CLI:
register, form login, organizations, invite codes, roles, cross-organization 404, API
tokens, ``heaven login`` storing a 0600 file, ``whoami``, ``logout``."""
import json
import os
import stat
import subprocess
import sys

import pytest

from tests.live import LiveCluster

pytestmark = pytest.mark.slow
PASSWORDS = {"alice": "alice-secret-Password-1", "bob": "bob-secret-Password-2"}


def _heaven(cluster: LiveCluster, config: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEAVEN_URL": cluster.url, "XDG_CONFIG_HOME": config, "COLUMNS": "300"}
    env.pop("HEAVEN_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "heaven.launch", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=60)


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_people_organizations_and_tokens_end_to_end(tmp_path):
    cluster = LiveCluster(tmp_path)
    try:
        cluster.start_controller()
        http = cluster.http
        headers = {}
        for name, password in PASSWORDS.items():
            made = http.post("/api/v1/auth/register", json={"username": name, "email": f"{name}@example.org",
                                                            "password": password})
            assert made.status_code == 201, made.text
            login = http.post("/api/v1/auth/token", data={"username": name, "password": password,
                                                          "grant_type": "password"})
            assert login.status_code == 200 and login.json()["token_type"] == "bearer"
            headers[name] = _bearer(login.json()["access_token"])
        key = tmp_path / "secret_key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600  # generated on first start, beside heaven.db

        acme = http.post("/api/v1/organizations", json={"name": "acme"}, headers=headers["alice"]).json()
        lab = http.post("/api/v1/organizations", json={"name": "bobs-lab"}, headers=headers["bob"]).json()
        # Another organization's id answers as a missing one does.
        assert http.get(f"/api/v1/organizations/{acme['id']}", headers=headers["bob"]).status_code == 404
        assert http.get(f"/api/v1/organizations/{lab['id']}/members", headers=headers["alice"]).status_code == 404
        joined = http.post("/api/v1/organizations/join", json={"invite_code": acme["invite_code"]},
                           headers=headers["bob"])
        assert joined.status_code == 200 and joined.json()["role"] == "member"
        assert joined.json()["invite_code"] is None
        refused = http.post(f"/api/v1/organizations/{acme['id']}/invite/regenerate", headers=headers["bob"])
        assert refused.status_code == 403 and refused.json()["field"] == "role"
        bob_id = next(m["id"] for m in http.get(f"/api/v1/organizations/{acme['id']}/members",
                                                 headers=headers["bob"]).json() if m["username"] == "bob")
        promoted = http.patch(f"/api/v1/organizations/{acme['id']}/members/{bob_id}", json={"role": "admin"},
                              headers=headers["alice"])
        assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
        assert http.post(f"/api/v1/organizations/{acme['id']}/invite/regenerate", headers=headers["bob"]).status_code == 200
        assert sorted(o["name"] for o in http.get("/api/v1/organizations", headers=headers["bob"]).json()) == \
            ["acme", "bobs-lab"]

        created = http.post("/api/v1/auth/tokens", json={"name": "script"}, headers=headers["alice"]).json()
        assert http.get("/api/v1/auth/me", headers=_bearer(created["token"])).json()["username"] == "alice"
        assert http.delete(f"/api/v1/auth/tokens/{created['id']}", headers=headers["alice"]).status_code == 204
        gone = http.get("/api/v1/auth/me", headers=_bearer(created["token"]))
        assert gone.status_code == 401 and gone.headers["www-authenticate"].startswith("Bearer")
        assert http.post("/api/v1/auth/logout", headers=headers["alice"]).status_code == 204
        assert http.get("/api/v1/auth/me", headers=headers["alice"]).status_code == 401

        config = str(tmp_path / "config")
        wrong = _heaven(cluster, config, "login", "--username", "alice", "--password-stdin", stdin="not it\n")
        assert wrong.returncode == 1 and "wrong username or password" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        logged_in = _heaven(cluster, config, "login", "--username", "alice", "--password-stdin",
                            stdin=PASSWORDS["alice"] + "\n")
        assert logged_in.returncode == 0, logged_in.stderr
        stored = tmp_path / "config" / "heaven" / "credentials.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert PASSWORDS["alice"] not in stored.read_text()
        assert json.loads(stored.read_text())[cluster.url]["token"].startswith("hph_")
        assert json.loads(_heaven(cluster, config, "whoami", "--json").stdout)["username"] == "alice"
        orgs = json.loads(_heaven(cluster, config, "org", "list", "--json").stdout)
        assert [(o["name"], o["role"]) for o in orgs] == [("acme", "owner")]
        code = json.loads(_heaven(cluster, config, "org", "invite", str(acme["id"]), "--json").stdout)["invite_code"]
        made = json.loads(_heaven(cluster, config, "org", "create", "research", "--json").stdout)
        assert made["role"] == "owner"
        members = json.loads(_heaven(cluster, config, "org", "members", str(acme["id"]), "--json").stdout)
        assert {m["username"] for m in members} == {"alice", "bob"}
        tokens = json.loads(_heaven(cluster, config, "token", "list", "--json").stdout)
        assert [t["name"] for t in tokens] == [json.loads(stored.read_text())[cluster.url]["name"]]
        wrong = _heaven(cluster, config, "org", "join", "not-a-code")
        assert wrong.returncode == 1 and "no organization has this invite code" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        secret_of_cli = json.loads(stored.read_text())[cluster.url]["token"]
        assert _heaven(cluster, config, "logout").returncode == 0
        assert cluster.url not in json.loads(stored.read_text())
        assert http.get("/api/v1/auth/me", headers=_bearer(secret_of_cli)).status_code == 401
        after = _heaven(cluster, config, "whoami")
        assert after.returncode == 1 and "heaven login" in after.stderr
        assert len(code) >= 20

        # The job routes need a person now.
        assert http.get("/api/v1/jobs", headers={"Authorization": ""}).status_code == 401
        assert http.get("/api/v1/jobs").status_code == 200  # the administrator's
        log = (tmp_path / "controller.log").read_text()
        events = json.dumps(cluster.every_event())
        for password in PASSWORDS.values():
            assert password not in log and password not in events
    finally:
        cluster.stop()
