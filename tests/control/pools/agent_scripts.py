"""A working create/delete pair for the ``command`` provider: each node a detached local agent
on CPU (node number mod the CPUs given), its pid kept in ROOT/NODE.pid. Shared by the
provider contract (tests/control/pools) and the pool's end-to-end test (tests/e2e)."""
from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

from tests.live import alive, wait_for

CREATE = """\
#!/bin/sh
# create: start an agent for $HEAVEN_NODE_NAME, detached, and print its id (the pid)
set -e
number=${{HEAVEN_NODE_NAME##*-}}
cpu=$(( number % {cpus} ))
setsid {python} -m heaven.launch agent --name "$HEAVEN_NODE_NAME" --cluster "$HEAVEN_CLUSTER" \\
    --controller "$HEAVEN_CONTROLLER" --cores "$cpu" --workdir "{root}/agents" \\
    >"{root}/$HEAVEN_NODE_NAME.log" 2>&1 </dev/null &
echo $! >"{root}/$HEAVEN_NODE_NAME.pid"
echo "pid-$!"
"""

DELETE = """\
#!/bin/sh
# delete: stop the agent of $HEAVEN_NODE_NAME (harmless when it is gone) and wait for it
pidfile="{root}/$HEAVEN_NODE_NAME.pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
echo "$HEAVEN_NODE_NAME $HEAVEN_NODE_ID" >>"{root}/deleted"
kill "$pid" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null || true
rm -f "$pidfile"
"""


def write_scripts(root: Path, cpus: int) -> dict[str, str]:
    """create.sh and delete.sh in ``root`` (which they also keep their pids and logs in)."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in (("create", CREATE), ("delete", DELETE)):
        path = root / f"{name}.sh"
        path.write_text(textwrap.dedent(text).format(python=sys.executable, root=root, cpus=cpus))
        path.chmod(0o755)
        paths[name] = str(path)
    return paths


def stop_leftovers(root: Path) -> None:
    """Whatever agents the scripts left running (the command provider's nodes outlive their pool)."""
    for pidfile in root.glob("*.pid"):
        pid = int(pidfile.read_text())
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
            try:
                wait_for(lambda: not alive(pid), 15, what=f"agent {pid} to stop")
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
