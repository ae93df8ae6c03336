"""``heaven cluster``: create with a quota, list, show (by name or id), change the quota, make
a join token that a real agent joins the cluster with, and the API's messages on errors."""
import json

import pytest

from tests.cli.test_cli import run
from tests.live import LiveCluster

pytestmark = pytest.mark.slow


def test_cluster_commands_over_a_real_controller_and_agent(tmp_path):
    live = LiveCluster(tmp_path)
    try:
        live.start_controller()
        cli = lambda *args: run(*args, url=live.url, token=live.token)  # noqa: E731
        made = cli("cluster", "create", "gpu", "--cores", "2", "--memory", "512", "--json")
        assert made.returncode == 0, made.stderr
        cluster = json.loads(made.stdout)
        assert cluster["quota"] == {"cores": 2, "memory_mb": 512, "gpus": None} and cluster["nodes"] == []
        token = json.loads(cli("cluster", "join-token", "gpu", "--name", "rack-1", "--json").stdout)
        live.env["HEAVEN_AGENT_TOKEN"] = token["token"]
        live.start_agent("g1", "0", "affinity")  # it names no cluster: the token's decides
        shown = json.loads(cli("cluster", "show", "gpu", "--json").stdout)
        assert shown["nodes"] == ["g1"] and shown["id"] == cluster["id"]
        assert "gpu" in cli("cluster", "list").stdout
        listed = json.loads(cli("cluster", "list", "--json").stdout)
        assert [c["name"] for c in listed if c["id"] == cluster["id"]] == ["gpu"]
        changed = json.loads(cli("cluster", "quota", str(cluster["id"]), "--cores", "1", "--unlimited", "memory",
                                 "--json").stdout)
        assert changed["quota"] == {"cores": 1, "memory_mb": None, "gpus": None}
        assert "no quota" in cli("cluster", "show", "gpu").stdout  # memory, as rendered

        for args, words in ((("cluster", "show", "nosuch"), "cluster nosuch does not exist"),
                            (("cluster", "show", "999"), "cluster 999 does not exist"),
                            (("cluster", "rm", "gpu"), f"cluster {cluster['id']} still has 1 nodes"),
                            (("cluster", "create", "gpu"), "has a cluster named gpu already"),
                            (("cluster", "quota", "gpu"), "give at least one of")):
            failed = cli(*args)
            assert failed.returncode == 1 and words in failed.stderr, (args, failed.stderr)
            assert "Traceback" not in failed.stderr
    finally:
        live.stop()
