"""The shim: one small process per job, the job's parent, independent of the agent.

As slurmstepd or containerd-shim, it lets the agent restart (an upgrade, a
crash, kill -9) without touching running work. It runs as its own program,
`python3 -I -S shim.py` (no site, no heaven package, stdlib only: it starts
in milliseconds and keeps none of the agent's heap), in a session of its own
so nothing aimed at the agent reaches it.

What it holds, per job:
- the job's process: it forks it, places it (joins the job's cgroup, sets the
  affinity, then the account to run as) before exec, and is the only one to
  reap it, so a signal it sends can never hit a recycled PID;
- the job's log files (opened here, inherited by the job);
- the exit status: written to `<id>.exit` before the shim exits, so an agent
  that was away when the job ended still reports the real code; with it what
  the job consumed (`cpu_seconds`, user+system, and `peak_memory_mb`), see
  _usage();
- `<id>.json`, the record a new agent finds it by, and `<id>.sock`, a unix
  socket (mode 0600, so only the agent's account) that takes one JSON line
  per connection: {"op": "signal", "sig": N} or {"op": "status"}.

The agent writes the job's spec as one JSON object on the shim's stdin; the
shim answers one line on stdout, {"pid": N} once the job has exec'd or
{"error": text} if it could not, then closes both.

When the job's leader exits, whatever is left of its tree (its process group,
its cgroup) is killed, because its cores go to someone else.

The disconnect grace (Nomad's `disconnect` block) is kept here, not in the agent:
the spec's `lease` names a file the agent touches every time it reached the
controller. When that file is older than the grace, the controller will soon
requeue the job elsewhere, so the shim stops it (SIGTERM, SIGKILL after the stop
grace) and records why. Kept by the shim, the promise holds whether the agent is
cut off, frozen or dead.
"""
import ctypes
import json
import os
import resource
import select
import signal
import socket
import sys
import time
import warnings  # noqa: F401  os.execvpe imports it lazily, in the child after the account switch


def _atomic_write(dirfd_path: str, name: str, data: dict) -> None:
    tmp = f"{dirfd_path}/.{name}.tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.rename(tmp, f"{dirfd_path}/{name}")


def _members(join_files: list) -> list:
    """The job's cgroup members (they may have left its process group)."""
    pids = []
    for path in join_files:
        try:
            with open(path) as fh:
                pids.extend(int(x) for x in fh.read().split())
        except OSError:
            pass
    return pids


def _children() -> list:
    """Our children: the leader and, as we are a subreaper, every orphan of its tree."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _signal_job(pid: int, join_files: list, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for member in _members(join_files) + [p for p in _children() if p != pid]:
        try:
            os.kill(member, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _child(spec: dict, out_fd: int, err_fd: int, errpipe: int) -> None:
    """In the forked child: place, become the account, exec. Never returns."""
    try:
        os.setsid()  # its own session and process group: the group is the job
        me = b"%d" % os.getpid()
        for path in spec["join_files"]:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
        os.sched_setaffinity(0, spec["cores"])
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        if spec.get("cwd"):
            # Before the account switch: the job's own directory may lie below ones only
            # the agent may traverse, and a cwd, once entered, is kept.
            os.chdir(spec["cwd"])
        account = spec.get("account")
        if account:  # group list and group before the uid: afterwards we could not change them
            os.setgroups(account["groups"])
            os.setgid(account["gid"])
            os.setuid(account["uid"])
        argv = spec["argv"]
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and exc.filename != spec["argv"][0] else ""
        os.write(errpipe, f"cannot execute {spec['argv'][0]!r}: {exc.strerror or exc}{where}".encode())
    except BaseException as exc:  # anything else: still tell the shim, never run Python on
        os.write(errpipe, f"cannot start {spec['argv'][0]!r}: {exc}".encode())
    os._exit(127)


def _serve(listener: socket.socket, pid: int, join_files: list) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(2.0)
        try:
            request = json.loads(conn.makefile().readline() or "{}")
            if request.get("op") == "signal":
                _signal_job(pid, join_files, int(request["sig"]))
            conn.sendall(json.dumps({"pid": pid, "shim": os.getpid()}).encode() + b"\n")
        except (OSError, ValueError, KeyError):
            pass  # a broken client must not end the shim


def _reap_exited_orphans(leader: int) -> None:
    """Orphans that already ended, so they do not stay zombies until the job ends."""
    for child in _children():
        if child != leader:
            try:
                os.waitid(os.P_PID, child, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                pass


def _reap_orphans(patience: float = 2.0) -> None:
    """Collect the killed orphans that were re-parented to us (a D-state one is left to init)."""
    import time
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def _answer(message: dict) -> None:
    """The one line the agent waits for, in one write (under a zygote, stdout is shared)."""
    os.write(1, json.dumps({**message, "shim": os.getpid()}).encode() + b"\n")


class _Lease:
    """The agent's last contact with the controller, as the mtime of a file (see the module's
    docstring): `expired()` once it is older than the grace. A missing file counts as a contact
    when the shim started (the agent had just been told to start the job)."""

    def __init__(self, spec: dict | None) -> None:
        self.spec = spec
        self.since = time.time()
        self.stopping_at: float | None = None  # monotonic time of the SIGTERM
        self.killed = False

    def expired(self) -> bool:
        try:
            contact = max(os.stat(self.spec["path"]).st_mtime, self.since)
        except OSError:
            contact = self.since
        return time.time() - contact > self.spec["grace"]

    def check(self, pid: int, join_files: list) -> None:
        """Once a second: stop the job when the lease has run out; SIGKILL after the stop grace."""
        if self.spec is None:
            return
        if self.stopping_at is None:
            if self.expired():
                self.stopping_at = time.monotonic()
                _signal_job(pid, join_files, signal.SIGTERM)
                _signal_job(pid, join_files, signal.SIGCONT)  # a suspended job could not act on it
        elif not self.killed and time.monotonic() - self.stopping_at >= self.spec["stop_grace"]:
            self.killed = True
            _signal_job(pid, join_files, signal.SIGKILL)

    @property
    def cause(self) -> str | None:
        return self.spec["cause"] if self.stopping_at is not None else None


def _exit_code(status: int) -> int:
    """As subprocess reports it: the exit status, or minus the signal that killed it."""
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _cgroup_counter(dirs: list, name: str, key: str | None = None) -> int | None:
    """A counter of the job's own group: the whole file (`key` None) or one `key value` line."""
    for path in dirs:
        try:
            with open(f"{path}/{name}") as fh:
                text = fh.read()
        except OSError:
            continue
        if key is None:
            return int(text)
        for line in text.splitlines():
            field, _, value = line.partition(" ")
            if field == key:
                return int(value)
    return None


def _usage(join_files: list) -> dict:
    """What the ended job consumed, read after every process of it was reaped. The job's own
    cgroup counts its whole tree, so it is preferred (v2: cpu.stat usage_usec, memory.peak;
    v1: cpuacct.usage where that controller is in the job's group, memory.max_usage_in_bytes).
    Otherwise our children's rusage: we are a subreaper, so the leader and every orphan of its
    tree were reaped by us and their times are summed there (a fork starts with these at zero);
    ru_maxrss is the largest single process, in KiB. A counter a kernel lacks is skipped."""
    dirs = [os.path.dirname(path) for path in join_files]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        usec = _cgroup_counter(dirs, "cpu.stat", "usage_usec")
        nsec = _cgroup_counter(dirs, "cpuacct.usage") if usec is None else None
        peak = _cgroup_counter(dirs, "memory.peak")
        peak = _cgroup_counter(dirs, "memory.max_usage_in_bytes") if peak is None else peak
    except ValueError:  # an unreadable counter: the rusage still holds
        usec = nsec = peak = None
    cpu = usec / 1e6 if usec is not None else nsec / 1e9 if nsec is not None else used.ru_utime + used.ru_stime
    return {"cpu_seconds": round(cpu, 6),
            "peak_memory_mb": round(peak / 2**20 if peak is not None else used.ru_maxrss / 1024, 3)}


def run(spec: dict) -> None:
    """Be the shim of one job (see the module's docstring); returns once the job has ended."""
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    # A subreaper: orphans of the job's tree (a daemon that double-forked, a child whose
    # shell exited) become OUR children, so at the end none escapes, in any mode.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    job = spec["job_id"]
    # Paths through a directory fd keep the socket's name short (sun_path holds 108 bytes).
    state_fd = os.open(spec["state_dir"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    state = f"/proc/self/fd/{state_fd}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    out_fd, err_fd = os.open(spec["out"], flags, 0o600), os.open(spec["err"], flags, 0o600)
    if spec.get("account"):
        for fd in (out_fd, err_fd):  # the job's own logs, readable by nobody else
            os.fchown(fd, spec["account"]["uid"], spec["account"]["gid"])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock_name = f"{job}.sock"
    try:
        os.unlink(f"{state}/{sock_name}")
    except FileNotFoundError:
        pass
    old_umask = os.umask(0o177)
    listener.bind(f"{state}/{sock_name}")
    os.umask(old_umask)
    listener.listen(16)

    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(spec, out_fd, err_fd, write_end)
    os.close(write_end)
    failure = b""
    while chunk := os.read(read_end, 4096):
        failure += chunk
    os.close(read_end)
    os.close(out_fd)
    os.close(err_fd)
    if failure:
        os.waitpid(pid, 0)
        os.unlink(f"{state}/{sock_name}")
        _answer({"error": failure.decode(errors="replace")})
        return
    record = {"job_id": job, "run": spec.get("run", 0), "pid": pid, "shim": os.getpid(),
              "cores": spec["cores"], "join_files": spec["join_files"], "slot": spec.get("slot"),
              "out": spec["out"], "err": spec["err"]}
    _atomic_write(state, f"{job}.json", record)  # before answering: a crash right after still leaves it findable
    _answer({"pid": pid})
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the agent's pipes: its death must not touch us
        os.dup2(devnull, fd)

    pidfd = os.pidfd_open(pid)
    lease = _Lease(spec.get("lease"))
    while True:
        ready, _, _ = select.select([pidfd, listener], [], [], 1.0)
        lease.check(pid, spec["join_files"])
        _reap_exited_orphans(pid)
        if listener in ready:
            _serve(listener, pid, spec["join_files"])
        if pidfd in ready:
            break
    # WNOWAIT: while the leader is a zombie its group id stays reserved, so killing the group is safe.
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    _signal_job(pid, spec["join_files"], signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    _reap_orphans()
    _atomic_write(state, f"{job}.exit", {"exit_code": _exit_code(status), "run": record["run"],
                                         **_usage(spec["join_files"]),
                                         **({"cause": lease.cause} if lease.cause else {})})
    os.unlink(f"{state}/{sock_name}")


def zygote() -> None:
    """`shim.py --zygote`: a long-lived, small parent that forks one shim per spec line on
    stdin, so a start costs a fork of this process instead of an interpreter's start-up
    (everything a shim imports is loaded here once). Each shim answers on the shared stdout
    (one short line, written at once, so lines never interleave) and then lets go of it. The
    zygote ends when its stdin closes (the agent is gone); its shims, each in a session of
    its own, live on and are re-parented."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    pending = b""
    while True:
        # Wake at least every second to collect shims that ended, so they do not stay zombies.
        if not select.select([0], [], [], 1.0)[0]:
            _reap_ended_shims()
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        _reap_ended_shims()
        for line in lines:
            _fork_shim(json.loads(line), devnull)


def _reap_ended_shims() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _fork_shim(spec: dict, devnull: int) -> None:
    if os.fork() == 0:
        try:
            os.setsid()
            os.dup2(devnull, 0)
            run(spec)
        except BaseException as exc:  # the agent waits for a line: never leave it without one
            try:
                _answer({"error": f"the shim of job {spec.get('job_id')} failed: {exc}"})
            except OSError:
                pass
        finally:
            os._exit(0)


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        zygote()
    else:
        run(json.loads(sys.stdin.readline()))
