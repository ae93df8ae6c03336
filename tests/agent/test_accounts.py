"""accounts.py and jobs run as local accounts, on real processes: the kernel's Uid of the
job, its logs closed to other accounts, and no signal across accounts. Needs root (to
create two throw-away accounts and switch to them); skipped otherwise."""
import os
import pwd
import subprocess
import uuid

import pytest

from heaven.agent import accounts
from heaven.agent.accounts import AccountError, check_policy, resolve
from heaven.agent.executor import Executor
from tests.agent.test_executor import ONE, reaped, status_field, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs root")


@pytest.fixture
def people():
    names = [f"hh{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield names
    finally:
        for name in names:
            subprocess.run(["userdel", name], check=False)


@pytest.fixture(params=["cgroup", "affinity"])
def executor(request, tmp_path):
    ex = Executor(tmp_path, f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}", mode=request.param)
    yield ex
    ex.shutdown(kill=True, grace=0.2)


def test_policies():
    with pytest.raises(ValueError):
        check_policy("nobody")
    assert resolve("root", "alice") is None, "root: the agent's own identity, as the operator says"
    with pytest.raises(AccountError, match="no account"):
        resolve("user:no-such-account-xyz", None)
    fallback = resolve("person", "root")
    assert fallback.name == accounts.FALLBACK and fallback.uid != 0, "a person called root never runs as root"
    assert resolve("", None) == fallback, "a root agent's default is the unprivileged account"


def test_jobs_run_as_their_people_and_cannot_touch_each_other(executor, people, tmp_path):
    alice, bob = (resolve("person", name) for name in people)
    assert pwd.getpwuid(alice.uid).pw_name == people[0]
    a = executor.start(1, ["sleep", "30"], [int(ONE)], account=alice)
    assert status_field(a.pid, "Uid").split()[:2] == [str(alice.uid)] * 2
    assert os.stat(a.stdout_path).st_uid == alice.uid and (os.stat(a.stdout_path).st_mode & 0o077) == 0
    assert os.stat(tmp_path / "work" / "1").st_uid == alice.uid

    probe = (f"echo x >> {a.stdout_path} && echo wrote-log; "
             f"kill -0 {a.pid} && echo signalled; "
             f"cat {a.stderr_path} && echo read-log; echo done")
    b = executor.start(2, ["sh", "-c", probe], [int(ONE)], account=bob)
    assert reaped(executor, 2) == 0
    out = b.stdout_path.read_text()
    assert out.strip().endswith("done"), out
    assert "wrote-log" not in out and "signalled" not in out and "read-log" not in out, out
    assert a.stdout_path.read_text() == ""
    wait_for(lambda: status_field(a.pid, "State") and status_field(a.pid, "State")[0] == "S", "alice's job to live on")
