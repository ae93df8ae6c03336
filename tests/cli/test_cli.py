"""The CLI prints the API's message (never a traceback) and exits non-zero on errors."""
import json
import os
import subprocess
import sys

import pytest

from tests.live import NOT_TRANSITIONS, LiveCluster

HEAVEN = [sys.executable, "-m", "heaven.launch"]


def run(*args: str, url: str = "http://127.0.0.1:9", token: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HEAVEN_URL": url, "COLUMNS": "300"}  # no wrapping inside messages
    if token is not None:
        env["HEAVEN_TOKEN"] = token
    return subprocess.run([*HEAVEN, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("args,words", [
    (["submit", "--cores", "0", "--", "true"], "Invalid value for '--cores' / '-c': Input should be greater than or equal to 1"),
    (["submit", "--cores", "two", "--", "true"], "Invalid value for '--cores' / '-c': Input should be a valid integer"),
    (["submit"], "Missing argument 'command'"),
    (["show", "abc"], "Invalid value for 'job_id': Input should be a valid integer"),
    (["agent", "--cores", "0-x"], "--cores must look like 0-3,6"),
    (["agent", "--cores", "999"], "this machine offers CPUs"),
    (["agent", "--mode", "magic"], "--mode must be cgroup, affinity or auto"),
    (["up", "--agents", "64"], "this machine has only"),
])
def test_bad_flags_get_a_clear_message(args, words):
    result = run(*args)
    assert result.returncode != 0
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_controller_is_a_message():
    result = run("jobs")
    assert result.returncode == 1
    assert "cannot reach the controller at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_submit_show_jobs_cancel_and_api_errors(tmp_path):
    cluster = LiveCluster(tmp_path)
    try:
        cluster.start_controller()
        cluster.start_agent("n1", "0-1", "affinity")
        submitted = run("submit", "--cores", "2", "--name", "hello", "--", "sh", "-c", "echo hi; sleep 300", url=cluster.url, token=cluster.token)
        assert submitted.returncode == 0, submitted.stderr
        job_id = int(submitted.stdout.strip())
        cluster.wait_pid(job_id)
        shown = json.loads(run("show", str(job_id), "--json", url=cluster.url, token=cluster.token).stdout)
        assert shown["name"] == "hello" and shown["local_cores"] == [0, 1]
        listed = json.loads(run("jobs", "--json", url=cluster.url, token=cluster.token).stdout)
        assert [j["id"] for j in listed] == [job_id]
        assert "hi" in run("logs", str(job_id), url=cluster.url, token=cluster.token).stdout
        assert "n1" in run("nodes", url=cluster.url, token=cluster.token).stdout
        too_big = run("submit", "--cores", "3", "--", "true", url=cluster.url, token=cluster.token)
        assert too_big.returncode == 1
        assert "cores=3 can never be satisfied: the largest node has 2 (node n1)" in too_big.stderr
        refused = run("submit", "--no-wait", "--node", "n1", "--", "true", url=cluster.url, token=cluster.token)
        assert "Insufficient CPU: node n1 has 0.00 available, job requires 1.00" in refused.stderr
        assert json.loads(run("cancel", str(job_id), "--json", url=cluster.url, token=cluster.token).stdout)["state"] == "cancelled"
        missing = run("show", "999", url=cluster.url, token=cluster.token)
        assert missing.returncode == 1 and "job 999 does not exist" in missing.stderr
        events = json.loads(run("events", "--json", "--job", str(job_id), url=cluster.url, token=cluster.token).stdout)
        assert [e["action"] for e in events if e["action"] not in NOT_TRANSITIONS] == ["submit", "assign", "start", "cancel"]
        bad_image = run("submit", "--image", "no such image", "--", "true", url=cluster.url, token=cluster.token)
        assert bad_image.returncode == 1 and "docker_image" in bad_image.stderr, bad_image.stderr
        imaged = json.loads(run("submit", "--image", "heaven-test/x:1", "--json", "--", "true",
                                url=cluster.url, token=cluster.token).stdout)
        assert imaged["docker_image"] == "heaven-test/x:1"  # n1 has no engine: `true` runs as a process
        assert cluster.wait_state(imaged["id"], "succeeded")["exit_code"] == 0
    finally:
        cluster.stop()
