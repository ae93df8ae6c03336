"""The providers' own contract, without a controller: what the operator's scripts are
given and what their failures say; the local provider refuses CPUs it does not have."""
import os
import subprocess

import pytest

from heaven.config import PoolSpec
from heaven.control.pools import providers
from heaven.control.pools.providers import LaunchFailed, Launched, LaunchRequest

REQUEST = LaunchRequest("cloud", "cloud-7", "lab", "http://127.0.0.1:9", "hpj_secret", 4)


def script(tmp_path, name: str, body: str) -> list[str]:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return [str(path)]


def command_pool(tmp_path, create: str, delete: str = "exit 0\n", **more) -> providers.NodeProvider:
    spec = PoolSpec(name="cloud", cluster="lab", provider="command", create=script(tmp_path, "create", create),
                    delete=script(tmp_path, "delete", delete), controller_url="http://127.0.0.1:9", **more)
    return providers.make(spec)


def test_create_gets_the_documented_environment_and_its_last_line_is_the_id(tmp_path):
    seen = tmp_path / "env"
    provider = command_pool(tmp_path, f'env | grep ^HEAVEN_ | sort >"{seen}"\necho booting\necho i-0abc\n')
    launched = provider.launch(REQUEST)
    assert launched.handle == "i-0abc" and launched.node == "cloud-7"
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines())
    assert {k: env[k] for k in ("HEAVEN_POOL", "HEAVEN_NODE_NAME", "HEAVEN_CLUSTER", "HEAVEN_CONTROLLER",
                                "HEAVEN_AGENT_TOKEN", "HEAVEN_NODE_CORES")} == {
        "HEAVEN_POOL": "cloud", "HEAVEN_NODE_NAME": "cloud-7", "HEAVEN_CLUSTER": "lab",
        "HEAVEN_CONTROLLER": "http://127.0.0.1:9", "HEAVEN_AGENT_TOKEN": "hpj_secret", "HEAVEN_NODE_CORES": "4"}


def test_delete_gets_the_node_and_the_id_create_printed(tmp_path):
    seen = tmp_path / "env"
    provider = command_pool(tmp_path, "echo i-1\n", f'env | grep ^HEAVEN_ | sort >"{seen}"\n')
    provider.stop(Launched("cloud-7", "i-1"))
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines())
    assert env["HEAVEN_NODE_ID"] == "i-1" and env["HEAVEN_NODE_NAME"] == "cloud-7"


def test_a_failing_create_is_a_failed_launch_quoting_its_last_error_line(tmp_path):
    provider = command_pool(tmp_path, "echo trying >&2\necho 'no capacity in zone a' >&2\nexit 3\n")
    with pytest.raises(LaunchFailed, match="create exited with 3: no capacity in zone a"):
        provider.launch(REQUEST)


def test_a_create_past_its_time_limit_is_a_failed_launch(tmp_path):
    provider = command_pool(tmp_path, "exec sleep 30\n", command_timeout=0.5)
    with pytest.raises(LaunchFailed, match="create took more than 0.5s"):
        provider.launch(REQUEST)


def test_the_local_provider_refuses_a_node_bigger_than_its_free_cpus(tmp_path):
    cpu = min(os.sched_getaffinity(0))
    provider = providers.make(PoolSpec(name="burst", cpus=[cpu], node_cores=2, workdir=str(tmp_path)))
    before = subprocess.run(["pgrep", "-c", "-f", "agent --name burst-1 "], capture_output=True, text=True).stdout
    with pytest.raises(LaunchFailed, match="has 1 free CPUs of 1, a node needs 2"):
        provider.launch(LaunchRequest("burst", "burst-1", "default", "http://127.0.0.1:9", "t", 2))
    assert not provider.alive(Launched("burst-1", ""))
    assert subprocess.run(["pgrep", "-c", "-f", "agent --name burst-1 "], capture_output=True,
                          text=True).stdout == before


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match=r"no provider 'qemu' \(known: .*command.*local"):
        providers.make(PoolSpec(name="vm", provider="qemu"))


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
