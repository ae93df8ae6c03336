"""/metrics as Prometheus reads it: parsed by prometheus-client's own text parser, its
figures agree with the API, and a caller sees only their organizations' jobs and nodes."""
from prometheus_client.parser import text_string_to_metric_families

from tests.control.conftest import person, register


def samples(client, headers=None) -> dict:
    answer = client.get("/metrics", headers=headers or {})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_agree_with_the_api(controller_app):
    client = controller_app()
    register(client, "n1", 4)
    for cores in (1, 2, 3):  # 1 and 2 fit on the 4 cores, 3 waits
        assert client.post("/api/v1/jobs", json={"command": ["sleep", "9"], "cores": cores}).status_code == 201
    client.app.state.controller.cycle_now()
    states = {}
    for job in client.get("/api/v1/jobs").json():
        states[job["state"]] = states.get(job["state"], 0) + 1
    got = samples(client)
    assert {s: got[("heaven_jobs", (("organization", "default"), ("state", s)))] for s in states} == states
    assert got[("heaven_cores", (("kind", "allocated"),))] == 3
    assert got[("heaven_cores", (("kind", "free"),))] == 1
    assert got[("heaven_scheduler_changes_total", (("change", "placed"),))] >= 2
    assert got[("heaven_scheduler_cycle_seconds_count", ())] >= 1
    assert ("heaven_agent_heartbeat_age_seconds", (("node", "n1"),)) in got
    assert got[("heaven_api_request_seconds_count", (("method", "POST"), ("route", "/api/v1/jobs")))] == 3


def test_another_organization_sees_none_of_its_jobs_or_nodes(auth_app):
    client = auth_app()
    register(client, "n1", 4)
    stranger = person(client, "stranger")
    assert client.post("/api/v1/organizations", json={"name": "elsewhere"}, headers=stranger).status_code == 201
    got = samples(client, stranger)
    assert not any(name == "heaven_agent_heartbeat_age_seconds" for name, _ in got)
    assert not any(dict(labels).get("organization") == "default" for _, labels in got)
    assert got[("heaven_cores", (("kind", "allocated"),))] == 0


def test_metrics_need_a_signed_in_caller(controller_app):
    client = controller_app(signed_in=False)
    assert client.get("/metrics").status_code == 401
