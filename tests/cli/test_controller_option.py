"""``heaven --controller URL1,URL2``: for every command, instead of HEAVEN_URL; the ``heaven``
executable answers a plain ``heaven jobs`` itself (heaven.cli.quick) with what Typer prints."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heaven.cli.listing import JOB_COLUMNS
from heaven.client import credentials
from tests.cli.test_cli import HEAVEN as TYPER
from tests.live import LiveCluster, free_port, wait_for

EXECUTABLE = [str(Path(sys.executable).with_name("heaven"))]  # heaven.entry:main, as installed


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LiveCluster(tmp_path_factory.mktemp("controller-option"))
    try:
        cluster.start_controller()
        cluster.jobs = [cluster.submit(["true"], name=f"j{i}")["id"] for i in range(3)]  # pending: no agent
        # Listed once the scheduler has ranked them: from then on every listing is the same.
        wait_for(lambda: all(cluster.job(i)["queue_position"] is not None for i in cluster.jobs), what="queue positions")
        yield cluster
    finally:
        cluster.stop()


def run(argv: list[str], *args: str, **env: str) -> subprocess.CompletedProcess:
    """HEAVEN_URL names a closed port: only --controller can reach the controller."""
    environment = {**os.environ, "HEAVEN_URL": f"http://127.0.0.1:{free_port()}", "COLUMNS": "300", **env}
    return subprocess.run([*argv, *args], capture_output=True, text=True, env=environment, timeout=60)


@pytest.mark.slow
def test_the_first_replica_dead_the_second_answers_every_command(cluster):
    replicas = f"http://127.0.0.1:{free_port()},{cluster.url}"
    listed = {}
    for name, argv in (("executable", EXECUTABLE), ("typer", TYPER)):
        done = run(argv, "--controller", replicas, "jobs", "--json", HEAVEN_TOKEN=cluster.token)
        assert done.returncode == 0, done.stderr
        listed[name] = done.stdout
    assert listed["executable"] == listed["typer"]  # --json: the same bytes either way
    assert [j["id"] for j in json.loads(listed["typer"])] == cluster.jobs[::-1]
    shown = run(TYPER, "--controller", replicas, "show", str(cluster.jobs[0]), "--json", HEAVEN_TOKEN=cluster.token)
    assert shown.returncode == 0 and json.loads(shown.stdout)["name"] == "j0"
    without = run(EXECUTABLE, "jobs", HEAVEN_TOKEN=cluster.token)
    assert without.returncode == 1 and "cannot reach the controller" in without.stderr


@pytest.mark.slow
def test_on_a_pipe_the_listing_is_plain_columns_and_the_stored_token_is_the_replicas(cluster, tmp_path, monkeypatch):
    replicas = f"http://127.0.0.1:{free_port()},{cluster.url}"
    config = {"XDG_CONFIG_HOME": str(tmp_path)}
    refused = run(EXECUTABLE, "--controller", replicas, "jobs", **config)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
    assert "Authorization" in refused.stderr  # no token stored for these replicas yet
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # where heaven login would keep it
    credentials.save(replicas, {"token": cluster.token, "token_id": 0, "username": "admin", "name": "t"})
    for argv in (EXECUTABLE, TYPER):
        done = run(argv, "--controller", replicas, "jobs", "--state", "pending", **config)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split() == list(JOB_COLUMNS) and len(lines) == 1 + len(cluster.jobs)
        assert [line.split()[0] for line in lines[1:]] == [str(i) for i in cluster.jobs[::-1]]


@pytest.mark.parametrize("value", ["ftp://127.0.0.1:8000", "127.0.0.1:8000", "http://127.0.0.1:8000,file:///x", ""])
@pytest.mark.parametrize("argv", [EXECUTABLE, TYPER], ids=["executable", "typer"])
def test_a_bad_controller_is_one_line_naming_the_option(argv, value):
    done = run(argv, "--controller", value, "jobs")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: --controller")


def test_the_executable_lists_jobs_without_typer_httpx_pydantic_or_rich():
    probe = ("import sys; sys.argv = ['heaven', 'jobs']; from heaven.entry import main; code = main(); "
             "print(code, sorted(m for m in ('typer', 'httpx', 'pydantic', 'rich') if m in sys.modules))")
    done = run([sys.executable, "-c", probe])
    assert done.stdout.strip() == "1 []" and "cannot reach the controller" in done.stderr


def test_shell_completion_still_completes():
    done = run(EXECUTABLE, _HEAVEN_COMPLETE="complete_bash", COMP_WORDS="heaven jobs --", COMP_CWORD="2")
    assert done.returncode == 0 and {"--state", "--limit", "--all", "--json"} <= set(done.stdout.split())
    done = run(EXECUTABLE, _HEAVEN_COMPLETE="complete_bash", COMP_WORDS="heaven --con", COMP_CWORD="1")
    assert done.stdout.split() == ["--controller"]


@pytest.mark.slow
def test_a_reader_that_left_ends_the_listing_quietly_as_typer_does(cluster):
    """`heaven jobs | head`: the pipe's reader is gone before the listing is written."""
    for argv in (EXECUTABLE, TYPER):
        read, write = os.pipe()
        os.close(read)
        environment = {**os.environ, "HEAVEN_TOKEN": cluster.token, "COLUMNS": "300"}
        done = subprocess.run([*argv, "--controller", cluster.url, "jobs"], stdout=write, stderr=subprocess.PIPE,
                              text=True, env=environment, timeout=60)
        os.close(write)
        assert done.returncode == 1 and "Traceback" not in done.stderr, (argv, done.stderr)
