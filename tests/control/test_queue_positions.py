"""One authority for queue order: the position the scheduler computed is what every reader shows."""
from __future__ import annotations

import pytest

from tests.control.conftest import register
from tests.live import wait_for


@pytest.mark.parametrize("order", ["sjf", "f1", "fifo", "priority"])
def test_positions_are_the_schedulers_order(controller_app, order):
    client = controller_app(order=order, scheduler_interval=0.2)
    register(client, "n1", 1)
    busy = client.post("/api/v1/jobs", json={"command": ["sleep", "60"], "priority": 10}).json()  # never preempted
    wait_for(lambda: client.get(f"/api/v1/jobs/{busy['id']}").json()["state"] != "pending", what="the busy job")
    walltimes = [100.0, 10.0, 50.0, 30.0]
    priorities = [0, 0, 0, 1]
    ids = [client.post("/api/v1/jobs", json={"command": ["true"], "walltime": w, "priority": p}).json()["id"]
           for w, p in zip(walltimes, priorities)]

    def shown() -> dict[int, int | None]:
        return {j["id"]: j["queue_position"] for j in client.get("/api/v1/jobs", params={"state": "pending"}).json()}

    positions = wait_for(lambda: (p := shown()) and None not in p.values() and p, what="positions from a full cycle")
    by_position = [job_id for job_id, _ in sorted(positions.items(), key=lambda kv: kv[1])]
    expected = {
        "sjf": [ids[3], ids[1], ids[2], ids[0]],  # priority first, then shortest walltime
        "f1": [ids[3], ids[1], ids[2], ids[0]],  # same cores and submit second: log10(walltime) decides
        "fifo": ids,
        "priority": [ids[3], ids[0], ids[1], ids[2]],
    }[order]
    assert by_position == expected
    assert sorted(positions.values()) == [1, 2, 3, 4]
    # /summary's pending list and each job's own view agree with the listing.
    assert [p["id"] for p in client.get("/summary").json()["pending"]] == expected
    assert client.get(f"/api/v1/jobs/{expected[0]}").json()["queue_position"] == 1
    # And the scheduler starts them in that order: free the core, the first position is placed.
    client.post(f"/api/v1/jobs/{busy['id']}/cancel")
    wait_for(lambda: client.get(f"/api/v1/jobs/{expected[0]}").json()["state"] != "pending", what="the head to start")
    assert all(client.get(f"/api/v1/jobs/{j}").json()["state"] == "pending" for j in expected[1:])


def test_head_only_cycles_never_show_stale_duplicate_positions(controller_app):
    """Cycles woken by events read only the queue head: they must not renumber it while
    the jobs behind keep old numbers; a whole-queue cycle comes at least every interval."""
    client = controller_app(scheduler_interval=1.0)
    register(client, "n1", 1)
    client.post("/api/v1/jobs", json={"command": ["sleep", "60"], "priority": 10})
    x = client.post("/api/v1/jobs", json={"command": ["true"]}).json()["id"]
    wait_for(lambda: client.get(f"/api/v1/jobs/{x}").json()["queue_position"] == 1, what="x at the head")
    for _ in range(70):  # more than the 64 a head-only cycle reads, all ahead of x
        client.post("/api/v1/jobs", json={"command": ["true"], "priority": 5})
    ctl = client.app.state.controller

    def positions() -> list[int]:
        ctl.wake()  # a cycle woken by an event: head only
        pending = client.get("/api/v1/jobs", params={"state": "pending"}).json()
        shown = [j["queue_position"] for j in pending if j["queue_position"] is not None]
        assert len(shown) == len(set(shown)), f"duplicate positions {sorted(shown)}"
        return shown
    wait_for(lambda: positions() and client.get(f"/api/v1/jobs/{x}").json()["queue_position"] == 71,
             what="x behind the 70 higher-priority jobs")
    assert sorted(positions()) == list(range(1, 72))
