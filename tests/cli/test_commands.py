"""The CLI's commands against a real controller and agent: #SBATCH scripts, nodes list and
stats, watch, jobs --all over pages, events, report; human and --json output of each."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from tests.cli.test_cli import HEAVEN, run
from tests.live import LiveCluster


def test_the_cli_imports_neither_matplotlib_nor_numpy_nor_the_controller_nor_httpx():
    probe = ("import sys, heaven.launch; print(sorted(m for m in ('matplotlib', 'numpy', 'heaven.sim.run', "
             "'pydantic_settings', 'fastapi', 'sqlalchemy', 'httpx') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_url_that_is_no_url_is_one_line():
    done = run("jobs", url="http://[::1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == "error: 'http://[::1' is not a controller URL (HEAVEN_URL): Invalid port: ':1'\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LiveCluster(tmp_path_factory.mktemp("cli"))
    try:
        cluster.start_controller()
        cluster.start_agent("n1", "0-1", "affinity")
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Answer:
    returncode: int
    stdout: str
    stderr: str


def cli(cluster, *args) -> Answer:
    """The CLI in this process (Typer's runner: no interpreter start per command, the same
    code from argument parsing to output); the tests above and below run it as a program."""
    from heaven.launch import app

    env = {"HEAVEN_URL": cluster.url, "HEAVEN_TOKEN": cluster.token, "COLUMNS": "300"}
    done = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    assert "Traceback" not in done.stderr
    return Answer(done.exit_code, done.stdout, done.stderr)


def _drain_until_exit(proc, fd: int, timeout: float = 30.0) -> None:
    """Read its output as a terminal would until it exits: a program whose terminal stops
    reading blocks once the buffer is full, and Live's last redraw on exit would wait forever."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                os.read(fd, 65536)
            except OSError:  # the terminal's other end closed: it has exited
                break
    proc.wait(max(0.1, deadline - time.monotonic()))


def _interrupted(cluster, *args, tty: bool = False):
    """Ctrl-C after the first output: a clean exit 0, no traceback. ``tty``: its output is a
    terminal (a pseudo-terminal here), where ``watch`` redraws in place with Rich Live."""
    env = {**os.environ, "HEAVEN_URL": cluster.url, "HEAVEN_TOKEN": cluster.token, "COLUMNS": "200"}
    master, slave = pty.openpty() if tty else (None, None)
    # Ctrl-C as at a terminal: a suite started in the background (`make test &`) inherits SIGINT
    # ignored, and Python then never turns it into KeyboardInterrupt.
    proc = subprocess.Popen([*HEAVEN, *args], env=env, stdout=slave if tty else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        fd = master if tty else proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], 30)
        assert ready and os.read(fd, 65536), f"{args}: no output"
        proc.send_signal(signal.SIGINT)
        _drain_until_exit(proc, fd)
        stderr = proc.stderr.read()
    finally:
        proc.kill()
        for end in (master, slave):
            if end is not None:
                os.close(end)
    assert proc.returncode == 0 and "Traceback" not in stderr, (args, proc.returncode, stderr)


@pytest.mark.slow
def test_a_batch_script_is_submitted_with_its_directives(cluster, tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --job-name=scripted -c 2\n#SBATCH --time=1:00 --mem=64M\n"
                      f"#SBATCH --output={out}-%j.txt\n#SBATCH --partition=gpu\necho from-script \"$1\"\n")
    done = cli(cluster, "submit", "--json", str(script), "arg")
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "#SBATCH --partition is not supported by heaven: ignored" in done.stderr
    job = json.loads(done.stdout)
    assert (job["name"], job["cores_requested"], job["walltime"], job["memory_mb"]) == ("scripted", 2, 60.0, 64)
    cluster.wait_state(job["id"], "succeeded")
    assert (tmp_path / f"out-{job['id']}.txt").read_text() == "from-script arg\n"
    assert cli(cluster, "logs", str(job["id"])).stdout == "from-script arg\n"  # heaven logs has it too
    # Options on the command line win over directives, as with sbatch.
    again = json.loads(cli(cluster, "submit", "--cores", "1", "-J", "mine", "--walltime", "5",
                           "--after", str(job["id"]), "--json", str(script)).stdout)
    assert (again["name"], again["cores_requested"], again["walltime"]) == ("mine", 1, 5.0)
    assert [d["job"] for d in again["depends_on"]] == [job["id"]]
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\n#SBATCH --time=soon\ntrue\n")
    refused = cli(cluster, "submit", str(bad))
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "bad.sh: line 2: --time must be minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]], not 'soon'" in refused.stderr


@pytest.mark.slow
def test_nodes_watch_jobs_events_and_report(cluster):
    job = cluster.submit(["sleep", "60"], cores=1, memory_mb=32)
    cluster.wait_pid(job["id"])
    nodes = json.loads(cli(cluster, "nodes", "list", "--json").stdout)
    [n1] = nodes
    cores = n1["resources"]["cores"]
    assert (cores["total"], cores["allocated"], cores["available"], cores["allocated_percent"]) == (2, 1, 1, 50.0)
    assert n1["resources"]["memory_mb"]["allocated"] == 32 and [j["id"] for j in n1["jobs"]] == [job["id"]]
    table = cli(cluster, "nodes").stdout  # `heaven nodes` is `heaven nodes list`
    assert "n1" in table and "1/2" in table and "50%" in table
    stats = cli(cluster, "nodes", "stats", "n1").stdout
    for words in ("Name:", "Last seen:", "RESOURCE", "ALLOCATED", "AVAILABLE", "cores", "memory_mb", "Jobs (1)"):
        assert words in stats, words
    missing = cli(cluster, "nodes", "stats", "nowhere")
    assert missing.returncode == 1 and "node nowhere does not exist" in missing.stderr

    frame = cli(cluster, "watch", "--once").stdout
    assert "Queue (" in frame and "Running (1)" in frame and "Nodes (1)" in frame
    _interrupted(cluster, "watch", "--interval", "0.2", tty=True)
    _interrupted(cluster, "events", "--follow", "--json")

    for _ in range(4):
        cluster.submit(["true"], cores=1)
    streamed = cli(cluster, "jobs", "--all", "--limit", "2", "--json").stdout.splitlines()
    every = cluster.http.get("/api/v1/jobs").json()
    assert [json.loads(line)["id"] for line in streamed] == [j["id"] for j in every] and len(every) >= 5
    assert str(job["id"]) in cli(cluster, "jobs", "--all", "--limit", "2").stdout
    events = json.loads(cli(cluster, "events", "--json", "--job", str(job["id"])).stdout)
    assert [e["action"] for e in events if e["action"] != "wait"][:3] == ["submit", "assign", "start"]

    cluster.http.post(f"/api/v1/jobs/{job['id']}/cancel")
    cluster.wait_state(job["id"], "cancelled")
    doc = json.loads(cli(cluster, "report", "--format", "json").stdout)
    line = next(j for j in doc["jobs"] if j["id"] == job["id"])
    assert line["allocated_core_seconds"] > 0 and line["requested_core_seconds"] == line["allocated_core_seconds"]
    rows = list(csv.DictReader(io.StringIO(cli(cluster, "report", "--format", "csv", "--by", "job").stdout)))
    assert float(next(r for r in rows if r["id"] == str(job["id"]))["allocated_core_seconds"]) == \
        pytest.approx(line["allocated_core_seconds"], abs=1e-3)
    human = cli(cluster, "report", "--since", "1h").stdout
    assert "Usage by organization" in human and "ALLOC CORE-S" in human
    wrong = cli(cluster, "report", "--since", "yesterday-ish")
    assert wrong.returncode != 0 and "give a date" in wrong.stderr
