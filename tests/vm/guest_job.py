"""The e2e test's job, run inside the guest: busy on two processes while WORK/busy exists,
idle otherwise; writes its own Cpus_allowed_list to WORK/job.cpus; ends (0) at WORK/stop."""
import os
import sys
import time

work = sys.argv[1]


def cpus_allowed() -> str:
    with open("/proc/self/status") as fh:
        return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("Cpus_allowed_list"))


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
    with open(f"{work}/job.cpus.partial", "w") as fh:
        fh.write(cpus_allowed())
    os.replace(f"{work}/job.cpus.partial", f"{work}/job.cpus")
    time.sleep(0.1)
for pid in children:
    os.waitpid(pid, 0)
print("done on", cpus_allowed())
