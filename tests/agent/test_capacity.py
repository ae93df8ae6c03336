"""The agent's vCPU routes answer only the VM's host side, and only on a hot-plug agent.
(The release itself, through the controller's shrink, runs in tests/e2e/test_vm_hotplug.py.)"""
from __future__ import annotations

from fastapi.testclient import TestClient

from heaven.agent.runtime import Agent
from heaven.agent.server import create_agent_app
from heaven.config import AgentSettings

KEY = "host-side-key-0123456789"


def _client(tmp_path, **settings) -> TestClient:
    agent = Agent(AgentSettings(name="vm-test", workdir=str(tmp_path), mode="affinity", **settings))
    return TestClient(create_agent_app(agent))


def test_without_the_host_key_nothing_is_released(tmp_path):
    client = _client(tmp_path, hotplug=True, host_key=KEY)
    assert client.post("/cpus/1/release", json={}).status_code == 401
    assert client.post("/cpus/1/release", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/cpus/plugging", json={"reason": "x"}).status_code == 401


def test_an_agent_without_a_host_key_refuses_everyone(tmp_path):
    client = _client(tmp_path, hotplug=True)
    assert client.post("/cpus/1/release", json={}, headers={"Authorization": "Bearer "}).status_code == 401


def test_an_agent_that_does_not_manage_hot_plug_says_so(tmp_path):
    client = _client(tmp_path, host_key=KEY)
    answer = client.post("/cpus/1/release", json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 409 and "HEAVEN_AGENT_HOTPLUG" in answer.json()["detail"]


def test_a_cpu_the_node_does_not_have_is_not_found(tmp_path):
    client = _client(tmp_path, hotplug=True, host_key=KEY)
    answer = client.post("/cpus/4000/release", json={"reason": "test"}, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 404 and "not one of this node's CPUs" in answer.json()["detail"]
    assert client.post("/cpus/5000/release", json={}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 422
