"""The accounting report (heaven.control.accounting) against a hand computation on a
recorded history, and GET /api/v1/report on a real store, scoped to the caller."""
from __future__ import annotations

import pytest

from heaven.control.accounting import job_figures, report, usage_detail
from tests.control.conftest import person, register
from tests.live import wait_for


def _job(id, cores, memory_mb, owner, nodes=1):
    return {"id": id, "name": f"j{id}", "org_id": 1, "owner_id": owner, "state": "succeeded", "cores": cores,
            "nodes": nodes, "memory_mb": memory_mb}


def _events(*rows):
    return [{"ts": ts, "action": action, "detail": detail} for ts, action, detail in rows]


# Written as the store writes them (heaven/store/apply.py, jobs.py, agent_service.py).
HISTORY = {
    # 4 cores; lends 2 of them from 150 to 200 (a steal), gets them back at 200.
    1: (_job(1, 4, 1000, "alice"), _events(
        (100, "submit", "j1: cores=4 priority=0"), (110, "assign", "on n1 cores [0, 1, 2, 3]"), (111, "start", "pid 9"),
        (150, "shrink", "gave up cores [2, 3]"), (200, "grow", "got back cores [2, 3]"),
        (300, "usage", usage_detail(1, 150.25, 812.5)), (300, "succeed", "exit 0"))),
    # Borrows job 1's two idle cores, is evicted by the give-back, runs again elsewhere.
    2: (_job(2, 2, 500, "bob"), _events(
        (140, "submit", "j2: cores=2 priority=0"), (140, "wait", "Insufficient CPU"),
        (150, "assign", "on n1 cores [2, 3] (2 taken from idle jobs [1])"), (151, "start", "pid 10"),
        (200, "preempt", "job 1 took back the cores it lent"), (200, "requeue", "back to the queue"),
        (201, "usage", usage_detail(1, 30.5, 250)),  # its agent stopped the preempted run: a late exit
        (250, "assign", "on n2 cores [4, 5]"), (260, "start", "pid 11"),
        (400, "usage", usage_detail(2, 120, 300)), (400, "fail", "exit 1"))),
    # Killed out of memory at 100 MB, retried with 200 MB; the second run was not measured.
    4: (_job(4, 1, 200, "alice"), _events(
        (100, "assign", "on n2 cores [6]"), (101, "start", "pid 12"), (130, "usage", usage_detail(1, 25, 100)),
        (130, "requeue", "out of memory at 100 MB: requeued with 200 MB (HEAVEN_RETRY_MEMORY)"),
        (140, "assign", "on n2 cores [6]"), (190, "succeed", "exit 0"))),
    # A gang: 2 cores on each of 2 nodes, cancelled while pending once, then held 10 s.
    5: (_job(5, 2, 100, None, nodes=2), _events(
        (100, "assign", "gang on n1 cores [0, 1], n2 cores [4, 5]"), (110, "cancel", "by alice"),
        # one part's measurement each, after the cancel (the agents stopped them); one lacks the CPU time
        (111, "usage", usage_detail(1, 10, 50)), (112, "usage", usage_detail(1, None, 60)))),
    # Never held anything: not listed.
    6: (_job(6, 1, 0, "bob"), _events((100, "submit", "j6"), (105, "cancel", "by bob"))),
}


def _figures(since, until):
    return {job["id"]: job_figures(job, events, since, until, "acme", job["owner_id"])
            for job, events in HISTORY.values()}


def _pick(f, *names):
    return tuple(getattr(f, n) for n in names)


FIELDS = ("elapsed_seconds", "requested_core_seconds", "allocated_core_seconds", "lent_core_seconds",
          "borrowed_core_seconds", "given_back_cores", "requested_mb_seconds", "allocated_mb_seconds", "runs")


def test_each_job_against_a_hand_computation():
    f = _figures(0, 1000)
    # job 1: held 110..300 = 190 s; 4 cores but 2 from 150 to 200: 4*40 + 2*50 + 4*100 = 660
    assert _pick(f[1], *FIELDS) == (190, 760, 660, 100, 0, 2, 190_000, 190_000, 1)
    # job 2: 150..200 on 2 borrowed cores, then 250..400 on 2 of its own
    assert _pick(f[2], *FIELDS) == (200, 400, 400, 0, 100, 0, 100_000, 100_000, 2)
    # job 4: 30 s at 100 MB, then 50 s at 200 MB
    assert _pick(f[4], *FIELDS) == (80, 80, 80, 0, 0, 0, 3_000 + 10_000, 3_000 + 10_000, 2)
    # job 5: 4 cores (2 on each node) for 10 s, 200 MB (100 on each)
    assert _pick(f[5], *FIELDS) == (10, 40, 40, 0, 0, 0, 2_000, 2_000, 1)
    assert f[6].runs == 0 and f[6].used_core_seconds is None and f[6].peak_memory_mb is None


USED = ("used_core_seconds", "peak_memory_mb", "measured_runs")


def test_used_core_seconds_and_peak_memory_sum_the_measured_runs():
    f = _figures(0, 1000)
    assert _pick(f[1], *USED) == (150.25, 812.5, 1)
    assert _pick(f[2], *USED) == (30.5 + 120, 300, 2)  # both runs, the preempted one included
    assert _pick(f[4], *USED) == (25, 100, 1)  # of its 2 runs, 1 measured
    assert _pick(f[5], *USED) == (10, 60, 1)  # a gang's two parts are one run
    assert _pick(f[6], *USED) == (None, None, 0)
    # A measurement is a run's total: it counts in the period in which the run ended.
    part = _figures(120, 220)
    assert _pick(part[1], *USED) == (None, None, 0)  # ended at 300
    assert _pick(part[2], *USED) == (30.5, 250, 1)
    assert _pick(part[4], *USED) == (25, 100, 1)
    assert _pick(part[5], *USED) == (None, None, 0)


def test_a_usage_event_says_what_was_measured():
    assert usage_detail(3, 12.3456, None) == "run 3: 12.346 cpu-seconds, peak memory not measured"
    assert usage_detail(1, None, 512.54) == "run 1: cpu-seconds not measured, peak 512.5 MB"


def test_a_period_counts_only_what_falls_inside_it():
    f = _figures(120, 220)
    # job 1: 120..150 on 4, 150..200 on 2, 200..220 on 4 = 120 + 100 + 80; the give-back at 200 is inside
    assert _pick(f[1], *FIELDS) == (100, 400, 300, 100, 0, 2, 100_000, 100_000, 1)
    assert _pick(f[2], *FIELDS) == (50, 100, 100, 0, 100, 0, 25_000, 25_000, 1)  # its second run starts at 250
    assert _pick(f[4], *FIELDS) == (60, 60, 60, 0, 0, 0, 1_000 + 10_000, 1_000 + 10_000, 2)
    assert f[5].runs == 0


def test_totals_per_organization_and_person():
    doc = report(list(_figures(0, 1000).values()), 0, 1000, ["acme", "empty"])
    assert [j["id"] for j in doc["jobs"]] == [1, 2, 4, 5]
    orgs = {o["name"]: o for o in doc["organizations"]}
    assert orgs["acme"]["jobs"] == 4 and orgs["acme"]["allocated_core_seconds"] == 660 + 400 + 80 + 40
    assert orgs["acme"]["requested_core_seconds"] == 760 + 400 + 80 + 40
    assert orgs["empty"]["jobs"] == 0 and orgs["empty"]["allocated_core_seconds"] == 0
    people = {p["name"]: p for p in doc["people"]}
    assert people["alice"]["requested_core_seconds"] == 760 + 80 and people["bob"]["borrowed_core_seconds"] == 100
    assert people["-"]["jobs"] == 1  # the gang has no owner
    assert doc["totals"]["lent_core_seconds"] == 100 and doc["totals"]["given_back_cores"] == 2
    assert doc["totals"]["used_core_seconds"] == 150.25 + 150.5 + 25 + 10
    assert doc["totals"]["peak_memory_mb"] == 812.5 and doc["totals"]["measured_runs"] == 1 + 2 + 1 + 1
    assert (people["alice"]["used_core_seconds"], people["alice"]["peak_memory_mb"]) == (150.25 + 25, 812.5)
    assert (people["bob"]["used_core_seconds"], people["bob"]["measured_runs"]) == (150.5, 2)
    assert (people["-"]["used_core_seconds"], people["-"]["peak_memory_mb"]) == (10, 60)
    assert orgs["acme"]["used_core_seconds"] == 335.75 and orgs["acme"]["measured_runs"] == 5
    assert (orgs["empty"]["used_core_seconds"], orgs["empty"]["peak_memory_mb"]) == (None, None), "nothing measured"
    assert orgs["empty"]["measured_runs"] == 0


def test_totals_of_unmeasured_jobs_stay_null():
    doc = report(list(_figures(120, 220).values()), 120, 220, ["acme"])
    lines = {j["id"]: j for j in doc["jobs"]}
    assert lines[1]["used_core_seconds"] is None and lines[1]["runs"] == 1
    assert doc["totals"]["used_core_seconds"] == 30.5 + 25 and doc["totals"]["measured_runs"] == 2


@pytest.fixture
def api(controller_app):
    client = controller_app(scheduler_interval=0.1)
    register(client, "n1", 2)
    return client


def test_the_route_replays_the_stores_own_events_and_shows_only_the_callers(api):
    job = api.post("/api/v1/jobs", json={"command": ["sleep", "60"], "cores": 2, "memory_mb": 64}).json()
    wait_for(lambda: api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "assigned", what="the job to be placed")
    assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    events = {e["action"]: e["ts"] for e in api.get("/api/v1/events", params={"job": job["id"]}).json()}
    held = events["cancel"] - events["assign"]
    doc = api.get("/api/v1/report").json()
    [line] = doc["jobs"]
    assert line["id"] == job["id"] and line["runs"] == 1
    assert line["allocated_core_seconds"] == pytest.approx(2 * held, abs=1e-3)
    assert line["allocated_mb_seconds"] == pytest.approx(64 * held, abs=1e-3)
    before = api.get("/api/v1/report", params={"until": events["assign"]}).json()
    assert before["jobs"] == [] and before["until"] == events["assign"]

    carol = person(api, "carol")
    assert api.post("/api/v1/organizations", json={"name": "beta"}, headers=carol).status_code == 201
    theirs = api.get("/api/v1/report", headers=carol).json()
    assert theirs["jobs"] == [] and [o["name"] for o in theirs["organizations"]] == ["beta"]

    wrong = api.get("/api/v1/report", params={"since": 10, "until": 5})
    assert wrong.status_code == 422 and wrong.json()["field"] == "since"


def test_a_suspended_run_is_one_run_and_its_suspended_time_counts_in_no_figure():
    job = _job(7, 2, 100, "alice")
    events = _events((100, "assign", "on n1 cores [0, 1]"), (101, "start", "pid 13"),
                     (120, "suspend", "evicted for job 8 (priority 1000 > -100)"),
                     (150, "resume", "on n1 cores [1, 2]"), (160, "succeed", "exit code 0"))
    f = job_figures(job, events, 0, 1000, "acme", "alice")
    # held 100..120 and 150..160: 30 s on 2 cores, 100 MB
    assert _pick(f, *FIELDS) == (30, 60, 60, 0, 0, 0, 3_000, 3_000, 1)
    # a period that ends while it is suspended: 100..120 only
    assert _pick(job_figures(job, events[:3], 0, 140, "acme", "alice"), "elapsed_seconds", "allocated_core_seconds",
                 "runs") == (20, 40, 1)
