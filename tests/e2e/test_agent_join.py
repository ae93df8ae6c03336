"""Real agent processes authenticate as nodes: one without a valid join token is refused
and never becomes a node; one with it registers and runs jobs (every other e2e test)."""
import subprocess

from tests.live import LAUNCH, wait_for


def test_an_agent_without_a_valid_join_token_is_refused(live, tmp_path):
    cluster = live()
    cluster.start_controller()
    log = tmp_path / "agent-stranger.log"
    env = {**cluster.env, "HEAVEN_AGENT_TOKEN": "hpj_not-a-token-anyone-made"}
    with open(log, "ab") as out:
        stranger = subprocess.Popen([*LAUNCH, "agent", "--name", "stranger", "--controller", cluster.url, "--cores", "0",
                                     "--mode", "affinity", "--workdir", str(tmp_path / "agents")],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "registration refused" in log.read_text(), 30, what="the agent to be refused")
        assert "the join token is unknown or was revoked" in log.read_text()
        assert cluster.node("stranger") is None
        assert cluster.http.get("/api/v1/agents/stranger/assignments").status_code == 401
    finally:
        stranger.terminate()
        stranger.wait(15)


def test_an_agents_own_api_answers_only_the_controller(live):
    """The agent chose a key when it joined and gave it to the controller: its logs answer
    that key only (401 otherwise), and the controller's log route presents it."""
    import httpx

    cluster = live()
    cluster.start_controller()
    cluster.start_agent("n1", "0", "affinity")
    job = cluster.submit(["sh", "-c", "echo hello; sleep 30"])
    cluster.wait_pid(job["id"])
    endpoint = cluster.node("n1")["endpoint"]
    assert endpoint.startswith("http://127.0.0.1:")
    for headers in ({}, {"Authorization": "Bearer not-the-key"}, {"Authorization": f"Bearer {cluster.token}"}):
        refused = httpx.get(f"{endpoint}/jobs/{job['id']}/logs", headers=headers, timeout=10)
        assert refused.status_code == 401, refused.text
    assert httpx.get(f"{endpoint}/health", timeout=10).status_code == 200
    assert wait_for(lambda: "hello" in cluster.http.get(f"/api/v1/jobs/{job['id']}/logs").text, 15, what="the logs")
    cluster.http.post(f"/api/v1/jobs/{job['id']}/cancel")
