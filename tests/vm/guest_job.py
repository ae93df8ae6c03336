"""The e2e test's job, run inside the guest: busy on two processes while WORK/busy exists,
idle otherwise; writes its own Cpus_allowed_list to WORK/job.cpus and its cgroup v2 group's
effective cpuset (or "none") to WORK/job.cpuset; ends (0) at WORK/stop."""
import os
import sys
import time

work = sys.argv[1]


def cpus_allowed() -> str:
    with open("/proc/self/status") as fh:
        return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("Cpus_allowed_list"))


def cpuset() -> str:
    with open("/proc/self/cgroup") as fh:
        group = next((line.strip().split("::", 1)[1] for line in fh if line.startswith("0::")), None)
    path = f"/sys/fs/cgroup{group}/cpuset.cpus.effective" if group else ""
    return open(path).read().strip() if path and os.path.exists(path) else "none"


def publish(name: str, value: str) -> None:
    with open(f"{work}/{name}.partial", "w") as fh:
        fh.write(value)
    os.replace(f"{work}/{name}.partial", f"{work}/{name}")


def spin() -> None:
    while not os.path.exists(f"{work}/stop"):
        if os.path.exists(f"{work}/busy"):
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                pass
        else:
            time.sleep(0.2)
    os._exit(0)


children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        spin()
    children.append(pid)
while not os.path.exists(f"{work}/stop"):
    publish("job.cpuset", cpuset())
    publish("job.cpus", cpus_allowed())
    time.sleep(0.1)
for pid in children:
    os.waitpid(pid, 0)
print("done on", cpus_allowed())
