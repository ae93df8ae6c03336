"""People, organizations and clusters of a live controller, made the way their clients make them:
people register and log in over HTTP (the form flow), organizations are created and joined
over HTTP. Clusters with quotas are written through the store until the cluster API of
the organizations lands (the cluster routes of this revision know only the default one)."""
from __future__ import annotations

import time

from tests.live import LiveCluster


def person(live: LiveCluster, username: str) -> dict:
    """Register ``username`` and log in; returns its Authorization header."""
    password = f"{username}-Password-123"
    made = live.http.post("/api/v1/auth/register", json={"username": username, "email": f"{username}@example.org",
                                                         "password": password}, headers={"Authorization": ""})
    assert made.status_code == 201, made.text
    login = live.http.post("/api/v1/auth/token", data={"username": username, "password": password,
                                                       "grant_type": "password"}, headers={"Authorization": ""})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def organization(live: LiveCluster, owner: dict, name: str, members: tuple[dict, ...] = ()) -> int:
    made = live.http.post("/api/v1/organizations", json={"name": name}, headers=owner)
    assert made.status_code == 201, made.text
    for member in members:
        joined = live.http.post("/api/v1/organizations/join", json={"invite_code": made.json()["invite_code"]},
                                headers=member)
        assert joined.status_code == 200, joined.text
    return made.json()["id"]


def add_cluster(live: LiveCluster, org_id: int, name: str, cores: int | None = None, memory_mb: int | None = None,
                gpus: int | None = None) -> int:
    """A cluster of ``org_id`` with a quota, written through the store; returns its id."""
    from sqlalchemy import insert

    from heaven.store.engine import Store
    from heaven.store.tables import clusters

    store = Store(live.database_url)
    try:
        with store.begin() as conn:
            return conn.execute(insert(clusters).values(org_id=org_id, name=name, quota_cores=cores,
                                                        quota_memory_mb=memory_mb, quota_gpus=gpus,
                                                        created_at=time.time())).inserted_primary_key[0]
    finally:
        store.dispose()


def join_token(live: LiveCluster, admin: dict, org_id: int, name: str) -> str:
    made = live.http.post(f"/api/v1/organizations/{org_id}/join-tokens", json={"name": name}, headers=admin)
    assert made.status_code == 201, made.text
    return made.json()["token"]
