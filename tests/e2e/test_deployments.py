"""Deployments end to end, on SQLite and PostgreSQL: a real controller, real agents of two
organizations and real processes pinned to real cores, over real HTTP.

Two organizations (acme: alice owner, carol member; lab: bob), each with a cluster named
``east`` (a cluster's name is its organization's own) and acme with ``west`` too.
- priorities: a high-priority deployment evicts the lowest-priority one of its own
  cluster, and nothing of the other cluster or the other organization;
- dependencies start in order: a dependent cannot start before its dependency completed,
  and stopping the dependency, or its clean exit, starts it;
- a crashing service is restarted with back-off that doubles, each restart an event.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.tenants import add_cluster, join_token, organization, person
from tests.live import LiveCluster, alive, wait_for

pytestmark = pytest.mark.slow
SLEEP = ["sleep", "300"]


class Deploy:
    """The product API of deployments, as one person."""

    def __init__(self, live: LiveCluster, headers: dict) -> None:
        self.live, self.headers = live, headers

    def create(self, name: str, cluster: str, priority: str, command=SLEEP, **extra) -> dict:
        made = self.live.http.post("/api/v1/deployments", headers=self.headers, json={
            "name": name, "command": command, "cluster": cluster, "priority": priority, **extra})
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "pending" and made.json()["started"] is False
        return made.json()

    def act(self, deployment_id: int, action: str, expect: int = 200, **params) -> dict:
        answer = self.live.http.post(f"/api/v1/deployments/{deployment_id}/{action}", headers=self.headers,
                                     params=params)
        assert answer.status_code == expect, answer.text
        return answer.json()

    def get(self, deployment_id: int) -> dict:
        answer = self.live.http.get(f"/api/v1/deployments/{deployment_id}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def actions(self, deployment_id: int) -> list[str]:
        return [e["action"] for e in self.events(deployment_id)]

    def events(self, deployment_id: int) -> list[dict]:
        answer = self.live.http.get("/api/v1/events", params={"job": deployment_id, "limit": 10000},
                                    headers=self.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def running(self, deployment_id: int) -> dict:
        """Wait until a node runs it with a live process; returns it with its pid."""
        def check():
            d = self.get(deployment_id)
            if d["status"] == "running" and d["state"] == "running":
                job = self.live.http.get(f"/api/v1/jobs/{deployment_id}", headers=self.headers).json()
                return job["pid"] and {**d, "pid": job["pid"]}
            return None
        return wait_for(check, 30, what=f"deployment {deployment_id} to run")


def _agent(live: LiveCluster, headers: dict, name: str, cores: str, cluster: str, token: str) -> None:
    def up() -> bool:
        node = live.http.get(f"/api/v1/nodes/{name}", headers=headers)
        return node.status_code == 200 and node.json()["state"] == "up"
    live.start_agent(name, cores, cluster=cluster, join_token=token, until=up)


def test_priorities_dependencies_and_crash_back_off(tmp_path, store_url):
    live = LiveCluster(tmp_path, database_url=store_url)
    try:
        live.start_controller()
        alice, bob, carol = person(live, "alice"), person(live, "bob"), person(live, "carol")
        acme = organization(live, alice, "acme", members=(carol,))
        lab = organization(live, bob, "lab")
        add_cluster(live, acme, "east", cores=8)
        add_cluster(live, acme, "west", cores=8)
        add_cluster(live, lab, "east", cores=8)
        acme_token, lab_token = join_token(live, alice, acme, "rack-a"), join_token(live, bob, lab, "rack-l")
        _agent(live, alice, "acme-east", "0,1", "east", acme_token)  # 2 cores
        _agent(live, alice, "acme-west", "0", "west", acme_token)  # 1 core
        _agent(live, bob, "lab-east", "0,1", "east", lab_token)  # 2 cores, another organization's "east"
        a, b, c = Deploy(live, alice), Deploy(live, bob), Deploy(live, carol)

        # -- priorities: fill acme/east with a low and a normal one; lab/east and acme/west run low ones.
        low = a.create("low", "east", "low")
        normal = a.create("normal", "east", "normal")
        west_low = a.create("west-low", "west", "low")
        lab_low = b.create("lab-low", "east", "low")
        running = {}
        for d, who in ((low, a), (normal, a), (west_low, a), (lab_low, b)):
            who.act(d["id"], "start")
            running[d["id"]] = who.running(d["id"])
        high = c.create("high", "east", "high")  # carol, a member of acme
        c.act(high["id"], "start")
        placed = c.running(high["id"])
        assert placed["node"] == "acme-east"
        evicted = wait_for(lambda: (d := a.get(low["id"]))["state"] == "pending" and d, 20, what="low to be evicted")
        assert evicted["status"] == "pending" and evicted["started"] is True  # a service goes back to pending
        assert "preempt" in a.actions(low["id"])
        wait_for(lambda: not alive(running[low["id"]]["pid"]), 20, what="the evicted process to stop")
        for kept, who in ((normal, a), (west_low, a), (lab_low, b)):  # the right victim, only in its own cluster
            now = who.get(kept["id"])
            assert now["state"] == "running" and alive(running[kept["id"]]["pid"]), kept["name"]
            assert "preempt" not in who.actions(kept["id"])
        # bob cannot see acme's deployments at all
        assert live.http.get(f"/api/v1/deployments/{high['id']}", headers=bob).status_code == 404

        # -- dependencies start in order (in lab/east, which has one core left).
        first = b.create("first", "east", "normal")
        second = b.create("second", "east", "normal", after=[first["id"]])
        refused = b.act(second["id"], "start", expect=409)
        assert refused["field"] == "after" and "complete" in refused["message"]
        b.act(first["id"], "start")
        b.running(first["id"])
        stopped = b.act(first["id"], "stop")
        assert stopped["status"] == "completed"
        after = b.running(second["id"])  # started by the stop, placed on the core the first one freed
        assert after["released_at"] >= b.get(first["id"])["finished_at"]
        b.act(second["id"], "stop", status="failed")
        assert b.get(second["id"])["status"] == "failed"
        # A dependency whose process exits 0 completes by itself, and that starts its dependent too.
        quick = b.create("quick", "east", "normal", command=["true"])
        waiter = b.create("waiter", "east", "normal", after=[quick["id"]])
        b.act(quick["id"], "start")
        b.running(waiter["id"])
        assert b.get(quick["id"])["status"] == "completed"
        b.act(waiter["id"], "stop")

        # -- a crashing service is restarted with growing back-off.
        crasher = b.create("crasher", "east", "normal", command=["sh", "-c", "sleep 0.2; exit 3"])
        b.act(crasher["id"], "start")
        wait_for(lambda: b.get(crasher["id"])["restarts"] >= 4, 60, interval=0.2, what="four restarts")
        shown = b.get(crasher["id"])
        if shown["state"] == "pending":
            assert re.fullmatch(r"back-off \d+ s: restarting after exit 3", shown["reason"]), shown["reason"]
        restarts = [e for e in b.events(crasher["id"]) if e["action"] == "requeue"]
        delays = [float(re.match(r"back-off (\d+) s", e["detail"]).group(1)) for e in restarts]
        assert delays[:4] == [1, 2, 4, 8]  # the recorded back-off doubles from 1 s
        assert len([e for e in b.events(crasher["id"]) if e["action"] == "start"]) >= len(restarts)
        # Each restart came no sooner than the back-off recorded before it allowed (causality, not speed).
        placed_at = [e["ts"] for e in b.events(crasher["id"]) if e["action"] == "assign"]
        for requeued, delay in zip(restarts[:-1], delays):
            assert min(ts for ts in placed_at if ts > requeued["ts"]) >= requeued["ts"] + delay
        last = b.get(crasher["id"])
        if last["state"] == "pending" and last["restarts"] == len(restarts):
            assert last["not_before"] == pytest.approx(restarts[-1]["ts"] + delays[-1])
        assert live.http.delete(f"/api/v1/deployments/{crasher['id']}", headers=bob).status_code == 204
        assert live.http.get(f"/api/v1/deployments/{crasher['id']}", headers=bob).status_code == 404
    finally:
        live.stop()
