"""What only the docker provider promises, on the suite's own engine: the container is the node's
box (its cpuset, host networking, an init, the host's trees read-only and only the work
directory writable), the join token is in its environment and on no command line, and a
stopped node keeps its agent's log. The image's root is made here, from nothing pulled."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from heaven.config import PoolSpec
from heaven.control.pools import providers
from heaven.control.pools.docker import NODE, POOL, host_image_tar, host_mounts
from heaven.control.pools.providers import LaunchRequest
from tests.live import cpus_allowed, wait_for

TOKEN = "hpj_container_secret"


@pytest.fixture
def provider(docker_engine, agent_image, tmp_path):
    made = providers.make(PoolSpec(name="box", provider="docker", docker_host=docker_engine.host, image=agent_image,
                                   workdir=str(tmp_path / "pool"), cpus=[0]))
    yield made
    made.close()
    for container in docker_engine.client.containers.list(all=True, filters={"label": f"{POOL}=box"}):
        container.remove(force=True)


def test_the_container_is_the_nodes_box_and_its_token_is_on_no_command_line(provider, docker_engine, tmp_path):
    launched = provider.launch(LaunchRequest("box", "box-1", "default", "http://127.0.0.1:9", TOKEN, 1))
    container = docker_engine.client.containers.get(launched.handle)
    config, host = container.attrs["Config"], container.attrs["HostConfig"]
    assert container.labels[NODE] == "box-1" and container.labels[POOL] == "box"
    assert host["CpusetCpus"] == "0" and host["NetworkMode"] == "host" and host["Init"] is True
    assert f"HEAVEN_AGENT_TOKEN={TOKEN}" in config["Env"]
    assert not any(TOKEN in arg for arg in [*config["Cmd"], *(config.get("Entrypoint") or [])])
    assert config["Cmd"][config["Cmd"].index("--mode") + 1] == "affinity"

    workdir = str(tmp_path / "pool")
    mounts = {m["Destination"]: m["RW"] for m in container.attrs["Mounts"]}
    assert mounts.pop(workdir) is True and mounts and not any(mounts.values()), mounts
    assert "/usr" in mounts

    pid = container.attrs["State"]["Pid"]
    # The agent (tini's child) is on the node's CPU, and its command line on this machine holds no secret.
    agent = wait_for(lambda: [c for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()], 10,
                     what="the agent under the container's init")[0]
    assert cpus_allowed(int(agent)) == "0"
    assert TOKEN not in Path(f"/proc/{agent}/cmdline").read_bytes().decode()
    wait_for(lambda: b"controller unreachable" in container.logs(), 30, what="the agent to try the controller")

    provider.stop(launched)
    assert not docker_engine.client.containers.list(all=True, filters={"label": f"{NODE}=box-1"})
    assert "drained agent box-1" in (tmp_path / "pool" / "box-1.log").read_text()


def test_the_mounts_are_the_trees_the_code_runs_from_each_once(tmp_path):
    mounts = host_mounts(tmp_path / "work")
    read_only = [Path(p) for p, m in mounts.items() if m["mode"] == "ro"]
    assert Path("/usr") in read_only and mounts[str(tmp_path / "work")]["mode"] == "rw"
    assert all(m["bind"] == p for p, m in mounts.items())  # at their own paths: sys.executable works inside
    assert not any(a != b and a.is_relative_to(b) for a in read_only for b in read_only)  # nested ones covered


def test_the_image_root_has_the_accounts_and_links_into_usr():
    with tarfile.open(fileobj=io.BytesIO(host_image_tar())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["sbin"].isdir()  # the engine's init is mounted there, outside the read-only /usr
    assert members["tmp"].mode == 0o1777
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["root", "heaven"]
