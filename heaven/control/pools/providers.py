"""The one interface every node provider implements, and the registry of provider kinds.

A provider starts a node that runs ``heaven agent`` and joins the pool's cluster with the
join token it is handed, and stops it again. It knows nothing of scheduling: the loop
decides, the provider only carries a launch or a stop out (both may block; the loop runs
them in a worker thread). A provider kind is added by ``register`` (``docker`` does
exactly what ``local`` does, with a container around the agent; a ``qemu`` one would put
a guest there).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from heaven.config import PoolSpec


class LaunchFailed(Exception):
    """The provider could not start a node; the message says why (it becomes the event's detail)."""


@dataclass(frozen=True)
class LaunchRequest:
    """What a new node must be: its name, where it joins, with what, and its size."""

    pool: str
    node: str  # the agent's --name
    cluster: str
    controller_url: str
    join_token: str  # handed to the agent as HEAVEN_AGENT_TOKEN, never on a command line
    cores: int


@dataclass
class Launched:
    """A node a provider started: ``handle`` is the provider's own id for it (a pid, an
    instance id); ``detail`` what the event says about where it runs."""

    node: str
    handle: str
    detail: str = ""
    extra: dict = field(default_factory=dict)


class NodeProvider(Protocol):
    kind: str

    def launch(self, request: LaunchRequest) -> Launched:
        """Start the node (raise LaunchFailed); return once it is started, not once it joined."""

    def stop(self, launched: Launched) -> None:
        """Stop the node and everything of it; harmless if it is gone already."""

    def alive(self, launched: Launched) -> bool | None:
        """Whether it still runs (None: the provider cannot tell; the heartbeat timeout will)."""

    def close(self) -> None:
        """The controller stops: what must not outlive it (local processes) is stopped."""


ProviderFactory = Callable[[PoolSpec], NodeProvider]
_KINDS: dict[str, ProviderFactory] = {}


def register(kind: str, factory: ProviderFactory) -> None:
    """Make provider ``kind`` available to pools (a ``qemu`` one goes here)."""
    _KINDS[kind] = factory


def make(spec: PoolSpec) -> NodeProvider:
    from heaven.control.pools import command, docker, local  # the built-in kinds, imported on first use

    _KINDS.setdefault("local", local.LocalProvider)
    _KINDS.setdefault("command", command.CommandProvider)
    _KINDS.setdefault("docker", docker.DockerProvider)
    factory = _KINDS.get(spec.provider)
    if factory is None:
        raise ValueError(f"pool {spec.name}: no provider {spec.provider!r} (known: {', '.join(sorted(_KINDS))})")
    return factory(spec)
