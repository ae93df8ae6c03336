"""``heaven deploy``: create, list, show, start, stop, cancel, rm against a real controller and
agent, each with --json, and the API's message (never a traceback) on a refusal."""
import json

import pytest

from tests.cli.test_cli import run
from tests.live import LiveCluster

pytestmark = pytest.mark.slow


def test_deploy_commands(tmp_path):
    live = LiveCluster(tmp_path)
    try:
        live.start_controller()
        live.start_agent("n1", "0", "affinity")

        def heaven(*args: str, ok: bool = True):
            result = run("deploy", *args, url=live.url, token=live.token)
            assert (result.returncode == 0) == ok, result.stderr
            assert "Traceback" not in result.stderr
            return result

        def as_json(*args: str) -> dict | list:
            return json.loads(heaven(args[0], "--json", *args[1:]).stdout)  # before a command's "--"

        web = as_json("create", "web", "--priority", "high", "--", "sleep", "60")
        assert (web["status"], web["started"], web["priority"]) == ("pending", False, 100)
        child = as_json("create", "child", "--after", str(web["id"]), "--", "sleep", "60")
        refused = heaven("start", str(child["id"]), ok=False)
        assert f"waits for {web['id']} (pending) to complete" in refused.stderr
        assert as_json("start", str(web["id"]))["status"] in ("pending", "running")
        listed = as_json("list")
        assert [d["name"] for d in listed] == ["child", "web"]
        assert "web" in heaven("list").stdout and "child" in heaven("show", str(child["id"])).stdout
        stopped = as_json("stop", str(web["id"]))
        assert stopped["status"] == "completed"
        assert as_json("show", str(child["id"]))["started"] is True  # the stop started it
        assert as_json("stop", str(child["id"]), "--failed")["status"] == "failed"
        other = as_json("create", "other", "--image", "registry.local/x:1")
        assert as_json("cancel", str(other["id"]))["status"] == "cancelled"
        assert as_json("rm", str(other["id"])) == {"id": other["id"], "deleted": True}
        missing = heaven("show", str(other["id"]), ok=False)
        assert f"deployment {other['id']} does not exist" in missing.stderr
    finally:
        live.stop()
