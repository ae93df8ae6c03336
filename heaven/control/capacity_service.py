"""A node's cores changing live: vCPUs hot-plugged into a VM node, or about to be unplugged.

A core is a global index (the node's offset + a position in its CPU list), and every
claim names one, so a change keeps the position of every CPU that stays: CPUs leave
from the end of the list and new ones are appended. A CPU that leaves is first taken
from the job holding it by a shrink through the one write port (apply_plan, which
re-verifies it); a job that cannot shrink (at its min_cores) refuses the whole change,
and nothing is written. The node may not grow past its registered ``max_cores``.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from heaven.control.errors import ApiError, not_found
from heaven.control.runtime import Controller
from heaven.core.plan import Plan, Shrink
from heaven.store import nodes
from heaven.store.apply import apply_plan, lock_core_map
from heaven.store.tables import core_claims


def change_cores(ctl: Controller, node: str, local_cores: list[int], reason: str) -> dict:
    """Make ``local_cores`` the node's CPUs; returns the node row. Jobs on the CPUs that
    leave are shrunk off them in the same transaction, and the agent hears of it."""
    now, actor = ctl.clock(), f"agent:{node}"
    wanted = list(local_cores)
    if len(set(wanted)) != len(wanted):
        raise ApiError(422, "invalid_input", "local_cores: must not repeat a CPU", "local_cores")
    with ctl.store.begin() as conn:
        lock_core_map(conn)
        row = nodes.get(conn, node)
        if row is None:
            raise not_found("node", node)
        old, offset = row["local_cores"], row["core_offset"]
        limit = nodes.span(row)
        if len(wanted) > limit:
            raise ApiError(409, "beyond_max_cores", f"local_cores: node {node} may hold at most {limit} CPUs "
                                                    f"(its max_cores), not {len(wanted)}", "local_cores")
        staying = [c for c in old if c in set(wanted)]
        if staying != old[:len(staying)]:
            first_gone = next(c for c in old if c not in set(wanted))
            raise ApiError(409, "not_last_cpu", f"local_cores: only the node's last CPUs can leave; CPU {first_gone} "
                                                f"is followed by CPUs that stay", "local_cores")
        new = staying + [c for c in wanted if c not in set(old)]
        leaving = {offset + i: old[i] for i in range(len(staying), len(old))}
        taken: dict[int, list[int]] = defaultdict(list)
        for job_id, core in conn.execute(select(core_claims.c.job_id, core_claims.c.core).where(
                core_claims.c.node == node, core_claims.c.core.in_(list(leaving)))):
            taken[job_id].append(core)
        if taken:
            plan = Plan(shrinks=[Shrink(job_id, node, tuple(sorted(cores))) for job_id, cores in sorted(taken.items())])
            applied = apply_plan(conn, plan, now, actor=actor)
            if applied.rejected:  # the transaction rolls back: nothing of the change is written
                shrink, problem = applied.rejected[0]
                cpus = [leaving[c] for c in shrink.cores_removed]
                raise ApiError(409, "cores_in_use", f"local_cores: CPU {cpus} cannot leave: {problem}", "local_cores")
        added, removed = [c for c in new if c not in set(old)], [c for c in old if c not in set(new)]
        detail = (f"cores {len(old)} -> {len(new)}" + (f", CPUs {added} added" if added else "")
                  + (f", CPUs {removed} removed" if removed else "")
                  + (f" (jobs {sorted(taken)} shrunk off them first)" if taken else "")
                  + (f": {reason}" if reason else ""))
        if new != old:
            nodes.set_cores(conn, node, new, [c for c in row["reserved"] or [] if c in set(new)], now, detail, actor)
        row = nodes.get(conn, node)
    ctl.notifier.touch([node])
    ctl.wake()  # new cores may start or grow jobs at once
    return row
