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
