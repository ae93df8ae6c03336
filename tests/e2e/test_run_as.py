"""Jobs run as the account HEAVEN_RUN_AS names, read from the kernel (/proc/PID/status)."""
import os
import pwd
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.live import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs root")]


def uid_of(pid: int) -> int:
    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("Uid:"))
    return int(line.split()[1])


def test_a_named_account_and_a_person_without_one(live):
    name = f"hh{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        cluster = live(run_as=f"user:{name}")
        cluster.start_controller()
        cluster.start_agent("n1", "1", "cgroup")
        job = cluster.submit(["sleep", "30"])
        pid = cluster.wait_pid(job["id"])["pid"]
        assert uid_of(pid) == pwd.getpwnam(name).pw_uid
        log = cluster.root / "agents" / "n1" / "jobs" / f"{job['id']}.out"
        assert log.stat().st_uid == pwd.getpwnam(name).pw_uid
        cluster.http.post(f"/api/v1/jobs/{job['id']}/cancel")
        cluster.wait_state(job["id"], "cancelled")
    finally:
        subprocess.run(["userdel", name], check=False)


def test_a_person_without_a_local_account_runs_unprivileged(live):
    cluster = live(run_as="person")
    cluster.start_controller()
    cluster.start_agent("n1", "1", "affinity")
    job = cluster.submit(["sleep", "30"])  # submitted by "admin": no such local account here
    pid = cluster.wait_pid(job["id"])["pid"]
    uid = wait_for(lambda: uid_of(pid), what="the job's uid")
    assert uid == pwd.getpwnam("heaven").pw_uid and uid != 0
