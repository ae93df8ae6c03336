"""The ``docker`` provider: each node is a container of a local Docker engine running ``heaven agent``.

The container is the ``local`` provider's agent process with a box around it:
- the image is a near-empty root (``host_image_tar``: directories, ``/bin`` -> ``usr/bin``,
  an ``/etc`` with ``root`` and the unprivileged ``heaven`` account); this machine's ``/usr``,
  its Python (``sys.base_prefix``), the virtualenv and the source tree are bind-mounted
  read-only at their own paths, so the agent in the box is exactly the controller's code;
  only the pool's ``workdir`` is writable. The image is made here by ``docker import``
  (``python -m heaven.control.pools.docker --import-image``), never pulled: a missing one is
  a failed launch that says how to make it;
- ``--cpuset-cpus`` of the node's CPUs (taken as ``local`` takes them, heaven.control.pools.cpus),
  and the agent offers those same kernel CPU numbers: a cpuset does not renumber them;
- the agent pins its jobs with ``sched_setaffinity`` (``--mode affinity``) inside the
  container's cpuset: the engine mounts the cgroup tree read-only in a container, and the
  cpuset already fences the whole node;
- host networking: the agent calls the controller on 127.0.0.1 and serves its own API there;
- ``--init``, so the drain signal (SIGUSR1) reaches the agent and nothing waits 10 s;
- the join token in the container's environment, never in its command.
Scale-in drains the agent (SIGUSR1: its jobs are stopped and requeued, it leaves), keeps
its log in ``workdir/NODE.log`` and removes the container. Containers are labelled with
the pool and node; they stop with the controller (``close``), as local agents do, and a
container a killed controller left is found again by them when its node is stopped.
"""
from __future__ import annotations

import io
import os
import re
import signal
import sys
import tarfile
import threading
from pathlib import Path

import heaven
from heaven.config import LOOPBACK_ENGINE, PoolSpec
from heaven.control.pools.cpus import pool_cpus, take_free
from heaven.control.pools.local import STOP_GRACE
from heaven.control.pools.providers import LaunchFailed, Launched, LaunchRequest

API_TIMEOUT = 30  # seconds for one engine call
POOL, NODE = "heaven.pool", "heaven.node"
# Settings the controller's environment gives its agents, as the local provider's children inherit them.
PASSED_ON = ("HEAVEN_RUN_AS", "HEAVEN_AGENT_HEARTBEAT", "HEAVEN_AGENT_STOP_GRACE", "HEAVEN_AGENT_DISCONNECT_GRACE",
             "HEAVEN_AGENT_MEMORY_MB")
FALLBACK_UID = 999  # the image's `heaven` account (heaven.agent.accounts.FALLBACK), for jobs of a root agent


def host_mounts(workdir: Path) -> dict[str, dict[str, str]]:
    """What the agent's container sees of this machine: the trees its code runs from,
    read-only, each at its own path (nested ones are covered by their parent), and the
    work directory, writable."""
    trees = {Path("/usr"), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(heaven.__file__).resolve().parent.parent}
    kept: list[Path] = []
    for tree in sorted(trees, key=lambda p: len(p.parts)):
        if not any(tree.is_relative_to(k) for k in kept):
            kept.append(tree)
    mounts = {str(p): {"bind": str(p), "mode": "ro"} for p in kept}
    mounts[str(workdir)] = {"bind": str(workdir), "mode": "rw"}
    return mounts


def host_image_tar() -> bytes:
    """The root of the agents' image: empty directories for the mounts, the usual symlinks
    into /usr, and just enough /etc for the accounts jobs run as."""
    files = {
        "etc/passwd": f"root:x:0:0:root:/root:/bin/sh\nheaven:x:{FALLBACK_UID}:{FALLBACK_UID}::/nonexistent:"
                      "/usr/sbin/nologin\n",
        "etc/group": f"root:x:0:\nheaven:x:{FALLBACK_UID}:\n",
        "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    cache = Path("/etc/ld.so.cache")  # where the dynamic linker finds /usr's multiarch libraries
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        # /sbin stays a directory: the engine mounts its init at /sbin/docker-init, which must not
        # land in the read-only /usr.
        for folder in ("usr", "etc", "tmp", "var", "var/tmp", "proc", "sys", "dev", "run", "root", "sbin"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder.endswith("tmp") else 0o755
            tar.addfile(info)
        for link in ("bin", "lib", "lib64"):
            if Path(f"/usr/{link}").is_dir():
                info = tarfile.TarInfo(link)
                info.type, info.linkname = tarfile.SYMTYPE, f"usr/{link}"
                tar.addfile(info)
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        if cache.is_file():
            tar.add(cache, "etc/ld.so.cache")
    return buffer.getvalue()


def import_host_image(client, tag: str) -> str:
    """Make the agents' image in the engine of ``client`` (a docker.DockerClient) as ``tag``."""
    repository, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
    client.api.import_image_from_data(host_image_tar(), repository=repository, tag=version,
                                      changes=['ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin'])
    return tag


def connect(docker_host: str | None):
    """A client of the engine at ``docker_host`` (default: DOCKER_HOST, else the default
    socket) that answered a ping, or LaunchFailed saying which engine did not answer."""
    import docker

    where = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not re.fullmatch(LOOPBACK_ENGINE, where):  # DOCKER_HOST is not checked as the setting is
        raise LaunchFailed(f"the Docker engine {where} is not on this machine: give docker_host as "
                           f"unix:///PATH or tcp://127.0.0.1:PORT")
    try:
        client = docker.DockerClient(base_url=where, timeout=API_TIMEOUT)
        client.ping()
    except Exception as exc:  # the SDK raises several kinds for an absent or refusing daemon
        raise LaunchFailed(f"the Docker engine at {where} does not answer: {str(exc)[:300]}") from None
    return client


class DockerProvider:
    kind = "docker"

    def __init__(self, spec: PoolSpec) -> None:
        self.spec = spec
        self.cpus = pool_cpus(spec)
        self.workdir = Path(spec.workdir).resolve()
        self._nodes: dict[str, tuple[str, tuple[int, ...]]] = {}  # node -> (container id, its CPUs)
        self._client = None
        self._lock = threading.Lock()

    def _engine(self):
        if self._client is None:
            self._client = connect(self.spec.docker_host)
        return self._client

    def launch(self, request: LaunchRequest) -> Launched:
        import docker.errors

        with self._lock:
            cpus = take_free(self.cpus, (c for _, held in self._nodes.values() for c in held), request.cores,
                             self.kind)
            client = self._engine()
            try:
                client.images.get(self.spec.image)  # create() would not pull either, but this says why
            except docker.errors.ImageNotFound:
                raise LaunchFailed(f"image {self.spec.image} is not in the Docker engine; images are never pulled "
                                   f"(make it with python -m heaven.control.pools.docker --import-image "
                                   f"{self.spec.image})") from None
            except docker.errors.APIError as exc:
                raise LaunchFailed(f"the Docker engine cannot look up image {self.spec.image}: "
                                   f"{exc.explanation or exc}") from None
            self.workdir.mkdir(parents=True, exist_ok=True)
            cpu_list = ",".join(map(str, cpus))
            env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
            env.update(HEAVEN_AGENT_TOKEN=request.join_token, HOME="/tmp")  # by environment: not in ps, not in argv
            argv = [sys.executable, "-m", "heaven.launch", "agent", "--name", request.node, "--cluster",
                    request.cluster, "--controller", request.controller_url, "--cores", cpu_list,
                    "--mode", "affinity", "--workdir", str(self.workdir)]
            try:
                container = client.containers.create(
                    self.spec.image, argv, init=True, cpuset_cpus=cpu_list, network_mode="host", environment=env,
                    volumes=host_mounts(self.workdir), working_dir=str(self.workdir), detach=True,
                    read_only=True, tmpfs={"/tmp": "mode=1777"},  # only the workdir (and a private /tmp) writable
                    labels={POOL: request.pool, NODE: request.node})
            except docker.errors.APIError as exc:
                raise LaunchFailed(f"the Docker engine refused the container: {exc.explanation or exc}") from None
            try:
                container.start()
            except docker.errors.APIError as exc:
                _remove(container)
                raise LaunchFailed(f"the container did not start: {exc.explanation or exc}") from None
            self._nodes[request.node] = (container.id, cpus)
        return Launched(request.node, container.id, f"container {container.short_id} on CPUs {cpu_list}")

    def stop(self, launched: Launched) -> None:
        import docker.errors

        with self._lock:
            entry = self._nodes.pop(launched.node, None)
        container_id = entry[0] if entry else launched.handle
        try:
            if container_id:
                container = self._engine().containers.get(container_id)
            else:  # an earlier controller's (it was killed): found by the labels it was made with
                found = self._engine().containers.list(all=True, filters={"label": [
                    f"{POOL}={self.spec.name}", f"{NODE}={launched.node}"]})
                if not found:
                    return
                container = found[0]
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise LaunchFailed(f"the Docker engine cannot find container {container_id[:12]}: "
                               f"{exc.explanation or exc}") from None
        try:
            if container.status == "running":
                container.kill(signal=int(signal.SIGUSR1))  # the drain: its jobs stop and are requeued
                container.wait(timeout=STOP_GRACE)
        except Exception:  # it ended meanwhile, or outlived the grace: the removal below ends it
            pass
        self._keep_log(launched.node, container)
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise LaunchFailed(f"container {container.short_id} could not be removed: {exc.explanation or exc}") \
                from None

    def _keep_log(self, node: str, container) -> None:
        """The agent's output outlives its container, where a local agent's log would be."""
        try:
            (self.workdir / f"{node}.log").write_bytes(container.logs())
        except Exception:
            pass  # a log is a courtesy; the stop goes on

    def alive(self, launched: Launched) -> bool | None:
        import docker.errors

        entry = self._nodes.get(launched.node)
        if entry is None:
            return False
        try:
            return self._engine().containers.get(entry[0]).status == "running"
        except docker.errors.NotFound:
            return False
        except Exception:  # the engine does not answer: the heartbeat timeout will tell
            return None

    def close(self) -> None:
        for node in list(self._nodes):
            try:
                self.stop(Launched(node, ""))
            except LaunchFailed:
                pass  # the engine went away with its containers' fate; nothing left to reach
        if self._client is not None:
            self._client.close()


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except Exception:
        pass  # it never ran; the engine forgets it on its own restart at worst


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m heaven.control.pools.docker",
                                     description="Make the image docker pools run their agents in.")
    parser.add_argument("--import-image", metavar="TAG", default=PoolSpec.model_fields["image"].default,
                        help="the image's tag (the pool's `image` setting)")
    parser.add_argument("--docker-host", default=None, help="the engine (default: DOCKER_HOST, else the default socket)")
    args = parser.parse_args(argv)
    try:
        client = connect(args.docker_host)
    except LaunchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(import_host_image(client, args.import_image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
