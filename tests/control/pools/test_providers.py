"""The providers' one contract, each kind through its real machinery: ``local`` agent processes,
the ``command`` provider's scripts starting local agents, ``docker`` containers of the suite's
own engine. A launched node joins a real controller, a stopped one leaves nothing running (and
stopping it again is harmless), a node bigger than the free CPUs is refused with nothing
started, a failed launch says why. Then what only the command provider has: the environment
its scripts are given and their time limit; and the registry of kinds."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from heaven.config import PoolSpec
from heaven.control.pools import providers
from heaven.control.pools.docker import NODE
from heaven.control.pools.providers import LaunchFailed, Launched, LaunchRequest
from tests.control.pools.agent_scripts import stop_leftovers, write_scripts
from tests.live import LiveCluster, wait_for

CPUS = sorted(os.sched_getaffinity(0))[:2]
NOWHERE = "http://127.0.0.1:9"  # a controller that is not there: the agent retries, which is all a CPU test needs
REQUEST = LaunchRequest("cloud", "cloud-7", "lab", NOWHERE, "hpj_secret", 4)


@dataclass
class Kind:
    """A provider kind under test: ``make(**spec)`` builds its pool's provider, ``running(node)``
    says whether anything of that node (an agent process, a container) is left on this machine."""

    name: str
    make: Callable[..., providers.NodeProvider]
    running: Callable[[str], bool]
    pool: str

    def request(self, number: int, controller: str = NOWHERE, token: str = "hpj_t", cores: int = 1):
        return LaunchRequest(self.pool, f"{self.pool}-{number}", "default", controller, token, cores)


def agent_running(node: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"agent --name {node} "], capture_output=True, text=True).stdout
    return bool(found.strip())


@pytest.fixture(params=["local", "command", "docker"])
def kind(request, tmp_path):
    pool = f"k{request.param}"
    made: list[providers.NodeProvider] = []

    def spec(**fields) -> PoolSpec:
        return PoolSpec(name=pool, provider=request.param, workdir=str(tmp_path / "pool"), **fields)

    if request.param == "local":
        def make(**fields):
            return providers.make(spec(**fields))
        running = agent_running
    elif request.param == "command":
        root = tmp_path / "cloud"
        paths = write_scripts(root, len(CPUS))

        def make(create: str | None = None, **fields):  # create: a shell body of one's own
            if create is not None:
                (root / "own-create.sh").write_text("#!/bin/sh\n" + create)
                (root / "own-create.sh").chmod(0o755)
            return providers.make(spec(create=[str(root / "own-create.sh") if create else paths["create"]],
                                       delete=[paths["delete"]], **fields))
        running = agent_running
        request.addfinalizer(lambda: stop_leftovers(root))
    else:
        engine, image = request.getfixturevalue("docker_engine"), request.getfixturevalue("agent_image")

        def make(**fields):
            return providers.make(spec(**{"docker_host": engine.host, "image": image, **fields}))

        def running(node: str) -> bool:
            left = engine.client.containers.list(all=True, filters={"label": f"{NODE}={node}"})
            return bool(left) or agent_running(node)

        def remove_leftovers():  # a failed test's containers, so the next one starts clean
            for container in engine.client.containers.list(all=True, filters={"label": f"heaven.pool={pool}"}):
                container.remove(force=True)
        request.addfinalizer(remove_leftovers)

    def tracked(**fields):
        provider = make(**fields)
        made.append(provider)
        return provider

    yield Kind(request.param, tracked, running, pool)
    for provider in made:
        provider.close()


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    cluster = LiveCluster(tmp_path_factory.mktemp("controller"))
    cluster.start_controller()
    yield cluster
    cluster.stop()


def test_a_launched_node_joins_and_a_stopped_one_leaves_nothing_running(kind, controller):
    provider = kind.make(cpus=CPUS[-1:], node_cores=1)
    request = kind.request(1, controller.url, controller.join_token)
    launched = provider.launch(request)
    try:
        assert launched.node == request.node and launched.handle
        node = wait_for(lambda: (n := controller.node(request.node)) and n["state"] == "up" and n, 60,
                        what=f"{request.node} to join")
        assert len(node["local_cores"]) == 1
        if kind.name != "command":  # the operator's script picks its own CPU
            assert node["local_cores"] == CPUS[-1:] and f"on CPUs {CPUS[-1]}" in launched.detail
        assert provider.alive(launched) is not False and kind.running(request.node)
    finally:
        provider.stop(launched)
    assert not provider.alive(launched)  # False, or None for a provider that cannot tell
    assert not kind.running(request.node)
    provider.stop(launched)  # a node that is gone already


@pytest.mark.parametrize("kind", ["local", "docker"], indirect=True)
def test_a_node_bigger_than_the_free_cpus_is_refused_and_nothing_starts(kind):
    provider = kind.make(cpus=CPUS[:1], node_cores=2)
    request = kind.request(9, cores=2)
    with pytest.raises(LaunchFailed, match=f"the {kind.name} provider has 1 free CPUs of 1, a node needs 2"):
        provider.launch(request)
    assert not provider.alive(Launched(request.node, ""))
    assert not kind.running(request.node)


@pytest.mark.parametrize("kind", ["local", "docker"], indirect=True)
def test_a_nodes_cpus_are_its_own_until_it_stops(kind):
    provider = kind.make(cpus=CPUS[:1], node_cores=1)
    first = provider.launch(kind.request(1))
    with pytest.raises(LaunchFailed, match="has 0 free CPUs of 1, a node needs 1"):
        provider.launch(kind.request(2))
    assert not kind.running(kind.request(2).node)
    provider.stop(first)
    second = provider.launch(kind.request(3))
    assert f"on CPUs {CPUS[0]}" in second.detail and kind.running(second.node)
    provider.stop(second)
    assert not kind.running(second.node)


FAILURES = [
    pytest.param("local", {"cpus": []}, "the local provider has 0 free CPUs of 0, a node needs 1", id="local-no-cpu"),
    pytest.param("command", {"create": "echo trying >&2\necho 'no capacity in zone a' >&2\nexit 3\n"},
                 "create exited with 3: no capacity in zone a", id="command-exit"),
    pytest.param("docker", {"image": "heaven-test/absent:1"},
                 "image heaven-test/absent:1 is not in the Docker engine; images are never pulled "
                 r"\(make it with python -m heaven.control.pools.docker --import-image heaven-test/absent:1\)",
                 id="docker-no-image"),
    pytest.param("docker", {"docker_host": "unix:///nonexistent/docker.sock"},
                 "the Docker engine at unix:///nonexistent/docker.sock does not answer: ", id="docker-no-engine"),
]


@pytest.mark.parametrize("kind,fields,message", FAILURES, indirect=["kind"])
def test_a_failed_launch_says_why_and_leaves_nothing(kind, fields, message):
    provider = kind.make(**fields)
    request = kind.request(5)
    with pytest.raises(LaunchFailed, match=message):
        provider.launch(request)
    assert not provider.alive(Launched(request.node, ""))
    assert not kind.running(request.node)


def test_a_missing_image_is_never_pulled(docker_engine, tmp_path):
    provider = providers.make(PoolSpec(name="nopull", provider="docker", docker_host=docker_engine.host,
                                       image="heaven-test/absent:2", workdir=str(tmp_path)))
    with pytest.raises(LaunchFailed, match="never pulled"):
        provider.launch(LaunchRequest("nopull", "nopull-1", "default", NOWHERE, "t", 1))
    assert not docker_engine.client.images.list(name="heaven-test/absent")  # nothing was fetched


# -- the command provider's own: what its scripts are given ----------------------------------------
def script(tmp_path, name: str, body: str) -> list[str]:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return [str(path)]


def command_pool(tmp_path, create: str, delete: str = "exit 0\n", **more) -> providers.NodeProvider:
    spec = PoolSpec(name="cloud", cluster="lab", provider="command", create=script(tmp_path, "create", create),
                    delete=script(tmp_path, "delete", delete), controller_url=NOWHERE, **more)
    return providers.make(spec)


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_create_gets_the_documented_environment_and_its_last_line_is_the_id(tmp_path):
    seen = tmp_path / "env"
    provider = command_pool(tmp_path, f'env | grep ^HEAVEN_ | sort >"{seen}"\necho booting\necho i-0abc\n')
    launched = provider.launch(REQUEST)
    assert launched.handle == "i-0abc" and launched.node == "cloud-7"
    env = read_env(seen)
    assert {k: env[k] for k in ("HEAVEN_POOL", "HEAVEN_NODE_NAME", "HEAVEN_CLUSTER", "HEAVEN_CONTROLLER",
                                "HEAVEN_AGENT_TOKEN", "HEAVEN_NODE_CORES")} == {
        "HEAVEN_POOL": "cloud", "HEAVEN_NODE_NAME": "cloud-7", "HEAVEN_CLUSTER": "lab",
        "HEAVEN_CONTROLLER": NOWHERE, "HEAVEN_AGENT_TOKEN": "hpj_secret", "HEAVEN_NODE_CORES": "4"}


def test_delete_gets_the_node_and_the_id_create_printed(tmp_path):
    seen = tmp_path / "env"
    provider = command_pool(tmp_path, "echo i-1\n", f'env | grep ^HEAVEN_ | sort >"{seen}"\n')
    provider.stop(Launched("cloud-7", "i-1"))
    env = read_env(seen)
    assert env["HEAVEN_NODE_ID"] == "i-1" and env["HEAVEN_NODE_NAME"] == "cloud-7"


def test_a_create_past_its_time_limit_is_a_failed_launch(tmp_path):
    provider = command_pool(tmp_path, "exec sleep 30\n", command_timeout=0.5)
    with pytest.raises(LaunchFailed, match="create took more than 0.5s"):
        provider.launch(REQUEST)


# -- the registry ----------------------------------------------------------------------------------
def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match=r"no provider 'nimbus' \(known: .*command.*docker.*local"):
        providers.make(PoolSpec(name="vm", provider="nimbus"))


def test_a_registered_kind_is_made_for_its_pools():
    made = []

    class Recording:  # only what register needs: a factory of a pool's spec
        kind = "recording"

        def __init__(self, spec):
            made.append(spec.name)

    providers.register("recording", Recording)
    try:
        assert isinstance(providers.make(PoolSpec(name="r", provider="recording")), Recording)
        assert made == ["r"]
    finally:
        providers._KINDS.pop("recording")
