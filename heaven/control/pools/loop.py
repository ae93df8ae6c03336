"""The autoscaler loop: read each pool's view, ask ``heaven.core.autoscale.decide``, carry
the actions out through the pool's provider, and record every decision as an event.

It runs in the controller beside the scheduler loop and, like it, must run on one replica
only: ``heaven.control.app.leader_loops`` is where both are started. The scheduler's
cycle is rung 1 of the elasticity ladder (it gives cores back to shrunk jobs before a job
is left waiting); this loop is rungs 2 (vCPU hot-plug, through ``VcpuHook``) and 3 (nodes).
Every action is re-checked against the store when it is carried out: a node is drained
only while still idle and forgotten only once no job holds a core on it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import func, select

from heaven.config import ControllerSettings, PoolSpec
from heaven.control.node_auth import issue_join_token
from heaven.control.pools import providers
from heaven.control.pools.providers import LaunchFailed, Launched, LaunchRequest, NodeProvider
from heaven.core import autoscale
from heaven.core.autoscale import CAPACITY_REASONS, Demand, Drain, Launch, PlugVcpus, PoolNode, PoolRules, PoolView
from heaven.core.autoscale import Resume, Retire, UnplugVcpus
from heaven.core.states import NodeState
from heaven.store import clusters, events, join_tokens, nodes, organizations
from heaven.store.apply import lock_core_map
from heaven.store.engine import default_org_id
from heaven.store.snapshot import schedulable
from heaven.store.tables import core_claims
from heaven.store.tables import jobs as job_table
from heaven.store.tables import nodes as node_table

log = logging.getLogger("heaven.autoscaler")
ACTOR = "autoscaler"


class VcpuHook(Protocol):
    """Rung 2 of the ladder: VM nodes whose vCPUs can be plugged live (the QEMU, libvirt and
    VirtualBox providers implement it). None is installed yet: a pool then has no room."""

    def room(self, pool: str) -> int: ...
    def spare(self, pool: str) -> int: ...
    def plug(self, pool: str, cores: int) -> str: ...
    def unplug(self, pool: str, cores: int) -> str: ...


@dataclass
class Pool:
    spec: PoolSpec
    rules: PoolRules
    provider: NodeProvider
    org_id: int = 0
    join_token: str = ""
    takes_unnamed: bool = False  # jobs naming no cluster count as this pool's demand
    launched: dict[str, tuple[Launched, float]] = field(default_factory=dict)  # node -> (handle, when)
    idle_since: dict[str, float] = field(default_factory=dict)
    starting: bool = True
    # A decision that changes nothing (at the maximum, a job too big) is recorded once per
    # kind while it holds, not every look: action -> the detail last recorded.
    notes: dict[str, str] = field(default_factory=dict)
    next_number: int = 1  # names are never reused: a new node is never taken for an old one
    stopping: set[str] = field(default_factory=set)  # retired nodes whose provider is stopping them

    def node_number(self, name: str) -> int | None:
        head, _, tail = name.rpartition("-")
        return int(tail) if head == self.spec.name and tail.isdigit() else None


def rules_of(spec: PoolSpec) -> PoolRules:
    return PoolRules(min_nodes=spec.min_nodes, max_nodes=spec.max_nodes, initial_workers=spec.initial_workers,
                     node_cores=spec.node_cores, max_cpu_threshold=spec.max_cpu_threshold,
                     prespawn_threshold=spec.prespawn_threshold, scale_in_cooldown=spec.scale_in_cooldown,
                     launch_timeout=spec.launch_timeout)


class Autoscaler:
    def __init__(self, ctl, settings: ControllerSettings, vcpus: VcpuHook | None = None) -> None:
        self.ctl = ctl
        self.settings = settings
        self.vcpus = vcpus
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        url = f"http://{host}:{settings.port}"
        self.pools = []
        for spec in settings.pools:
            spec = spec.model_copy(update={"controller_url": spec.controller_url or url})
            self.pools.append(Pool(spec, rules_of(spec), providers.make(spec)))
        self._lock = threading.Lock()  # one look at a time; close waits for a look in flight
        # Stops run beside the looks: an agent may take seconds to end, and the pool must keep
        # answering demand meanwhile.
        self._stops = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="pool-stop")

    # -- start and stop ---------------------------------------------------------------------
    def start(self) -> None:
        """Each pool's organization, cluster and join token (a fresh one per start, as
        ``heaven up`` does for its agents: the secret lives in this process only)."""
        now = self.ctl.clock()
        with self.ctl.store.begin() as conn:
            for pool in self.pools:
                org_id = organizations.id_named(conn, pool.spec.org)
                if org_id is None and pool.spec.org == "default":
                    org_id = default_org_id(conn)
                if org_id is None:
                    raise ValueError(f"pool {pool.spec.name}: no organization {pool.spec.org}")
                pool.org_id = org_id
                clusters.ensure(conn, org_id, pool.spec.cluster, now)
                # One token per pool and replica: a restarted replica replaces its own, and a
                # take-over leaves the agents another replica launched able to register.
                token_name = f"pool {pool.spec.name} via {self.ctl.leadership.url}"
                join_tokens.remove(conn, org_id, name=token_name)
                pool.join_token = issue_join_token(conn, org_id, token_name, now, ACTOR,
                                                   cluster=pool.spec.cluster)["token"]
        for pool in self.pools:
            same_org = [p for p in self.pools if p.org_id == pool.org_id]
            default = [p for p in same_org if p.spec.cluster == "default"]
            pool.takes_unnamed = pool is (default or same_org)[0]

    def close(self) -> None:
        with self._lock:
            self._stops.shutdown(wait=True)
            for pool in self.pools:
                try:
                    pool.provider.close()
                except Exception:
                    log.exception("pool %s: stopping its provider failed", pool.spec.name)

    async def run(self) -> None:
        leadership = self.ctl.leadership
        while not leadership.is_leader:  # a follower's pools are the leader's to run
            await leadership.wait_change(self.settings.autoscale_interval)
        while True:
            try:
                await asyncio.to_thread(self.start)
                break
            except Exception:  # e.g. the pool's organization does not exist yet: say so, try again
                log.exception("autoscaler could not start its pools")
                await asyncio.sleep(max(5.0, self.settings.autoscale_interval))
        try:
            while True:
                if not leadership.is_leader:  # deposed: the new leader's autoscaler decides
                    await leadership.wait_change(self.settings.autoscale_interval)
                    continue
                try:
                    await asyncio.to_thread(self.look)
                except Exception:  # a failed look must not stop the loop; the next one retries
                    log.exception("autoscaler look failed")
                await asyncio.sleep(self.settings.autoscale_interval)
        finally:
            await asyncio.to_thread(self.close)

    # -- one look ----------------------------------------------------------------------------
    def look(self) -> None:
        with self._lock:
            for pool in self.pools:
                now = self.ctl.clock()
                with self.ctl.store.read() as conn:
                    view = self.view(conn, pool, now)
                decision = autoscale.decide(view, now)
                pool.starting = False
                self.carry_out(pool, decision, now)

    def view(self, conn, pool: Pool, now: float) -> PoolView:
        rows = conn.execute(select(node_table.c.name, node_table.c.state, node_table.c.local_cores,
                                   node_table.c.reserved).where(node_table.c.org_id == pool.org_id,
                                                                node_table.c.cluster == pool.spec.cluster)).all()
        rows = [r for r in rows if pool.node_number(r.name) is not None]
        busy = dict(conn.execute(select(core_claims.c.node, func.count()).where(
            core_claims.c.node.in_([r.name for r in rows])).group_by(core_claims.c.node)).all())
        seen, pool_nodes = set(), []
        for r in rows:
            seen.add(r.name)
            held = busy.get(r.name, 0)
            if held or r.state != NodeState.UP.value:
                pool.idle_since.pop(r.name, None)
            else:
                pool.idle_since.setdefault(r.name, now)  # a node's cool-down starts when it is first seen idle
            launched_at = pool.launched.get(r.name, (None, None))[1]
            cores = len(r.local_cores) - len(r.reserved or ())
            if r.name in pool.stopping:  # counts against the maximum, offers nothing, is not retired twice
                pool_nodes.append(PoolNode(r.name, autoscale.DRAIN, cores, cores))
                continue
            state = r.state
            if state == NodeState.DRAIN.value and r.name in pool.launched and \
                    pool.provider.alive(pool.launched[r.name][0]) is False:
                state = autoscale.DOWN  # its agent left (a drained agent stops): nothing there to resume
            pool_nodes.append(PoolNode(r.name, state, cores, held, pool.idle_since.get(r.name), launched_at))
        for name, (_, when) in list(pool.launched.items()):
            if name not in seen:
                pool_nodes.append(PoolNode(name, autoscale.LAUNCHING, pool.spec.node_cores, launched_at=when))
        return PoolView(pool.rules, tuple(pool_nodes), self.demand(conn, pool, now), pool.starting,
                        self.vcpus.room(pool.spec.name) if self.vcpus else 0,
                        self.vcpus.spare(pool.spec.name) if self.vcpus else 0)

    def demand(self, conn, pool: Pool, now: float) -> tuple[Demand, ...]:
        """Pending jobs of the pool's home the scheduler's last whole look left waiting for capacity."""
        codes = self.ctl.waiting_codes
        home = job_table.c.cluster == pool.spec.cluster
        if pool.takes_unnamed:
            home = home | job_table.c.cluster.is_(None)
        rows = conn.execute(select(job_table.c.id, job_table.c.cores, job_table.c.nodes).where(
            *schedulable(now), job_table.c.org_id == pool.org_id, job_table.c.node_pin.is_(None), home)
            .order_by(job_table.c.id)).all()
        return tuple(Demand(r.id, r.cores, r.nodes) for r in rows if codes.get(r.id) in CAPACITY_REASONS)

    # -- carrying actions out -------------------------------------------------------------------
    def carry_out(self, pool: Pool, decision, now: float) -> None:
        if decision.unfit:
            self._note(pool, now, "scale_unfit", f"jobs {list(decision.unfit)} ask more cores than a node of "
                                                 f"this pool has ({pool.spec.node_cores}): no node is added for them")
        for action in decision.actions:
            if isinstance(action, Launch):
                self._launch(pool, action, now)
            elif isinstance(action, Retire):
                self._retire(pool, action, now)
            elif isinstance(action, Drain):
                self._drain(pool, action, now)
            elif isinstance(action, Resume):
                self._set_state(pool, action.node, NodeState.DRAIN, NodeState.UP, now, "scale_out", action.reason)
            elif isinstance(action, (PlugVcpus, UnplugVcpus)) and self.vcpus is not None:
                plug = isinstance(action, PlugVcpus)
                done = (self.vcpus.plug if plug else self.vcpus.unplug)(pool.spec.name, action.cores)
                self._event(pool, now, "vcpu_plug" if plug else "vcpu_unplug", f"{action.reason}: {done}")

    def _event(self, pool: Pool, now: float, action: str, detail: str, node: str | None = None) -> None:
        with self.ctl.store.begin() as conn:
            events.record(conn, now, action, f"pool {pool.spec.name}: {detail}", actor=ACTOR, node=node,
                          org_id=pool.org_id)
        log.info("pool %s: %s %s", pool.spec.name, action, detail)

    def _note(self, pool: Pool, now: float, action: str, detail: str) -> None:
        if pool.notes.get(action) != detail:
            pool.notes[action] = detail
            self._event(pool, now, action, detail)

    def _next_name(self, pool: Pool) -> str:
        with self.ctl.store.read() as conn:
            names = list(conn.execute(select(node_table.c.name)).scalars())
        used = [n for n in (pool.node_number(x) for x in [*names, *pool.launched]) if n is not None]
        pool.next_number = max(pool.next_number, max(used, default=0) + 1)
        pool.next_number += 1
        return f"{pool.spec.name}-{pool.next_number - 1}"

    def _launch(self, pool: Pool, action: Launch, now: float) -> None:
        if action.count == 0:
            self._note(pool, now, "scale_out_capped", action.reason)
            return
        pool.notes.clear()
        for _ in range(action.count):
            name = self._next_name(pool)
            request = LaunchRequest(pool.spec.name, name, pool.spec.cluster, pool.spec.controller_url,
                                    pool.join_token, pool.spec.node_cores)
            try:
                launched = pool.provider.launch(request)
            except LaunchFailed as exc:
                self._event(pool, now, "launch_failed", f"{action.reason}; {name} could not start: {exc}", name)
                return  # the next look tries again
            pool.launched[name] = (launched, now)
            self._event(pool, now, action.action, f"{action.reason}; {name}: {launched.detail}", name)

    def _drain(self, pool: Pool, action: Drain, now: float) -> None:
        with self.ctl.store.begin() as conn:
            lock_core_map(conn)  # no placement lands between the idle check and the drain
            held = conn.execute(select(core_claims.c.core).where(core_claims.c.node == action.node).limit(1)).first()
            if held is not None:
                return  # work landed since the view was read: it is not idle any more
            if nodes.set_state(conn, action.node, NodeState.UP, NodeState.DRAIN, now,
                               f"scale-in: {action.reason}", ACTOR):
                events.record(conn, now, "scale_in", f"pool {pool.spec.name}: {action.reason}", actor=ACTOR,
                              node=action.node, org_id=pool.org_id)
        pool.notes.clear()

    def _set_state(self, pool: Pool, node: str, old: NodeState, new: NodeState, now: float, action: str,
                   reason: str) -> None:
        with self.ctl.store.begin() as conn:
            if nodes.set_state(conn, node, old, new, now, reason, ACTOR):
                events.record(conn, now, action, f"pool {pool.spec.name}: {reason}", actor=ACTOR, node=node,
                              org_id=pool.org_id)
        self.ctl.wake()

    def _retire(self, pool: Pool, action: Retire, now: float) -> None:
        if action.node in pool.stopping:
            return
        with self.ctl.store.read() as conn:
            row = nodes.get(conn, action.node)
            held = conn.execute(select(core_claims.c.core).where(core_claims.c.node == action.node).limit(1)).first()
        if row is not None and (held is not None or row["state"] == NodeState.UP.value):
            return  # it holds work again, or came back: not this look's to stop
        launched = pool.launched.pop(action.node, (Launched(action.node, ""), now))[0]
        pool.stopping.add(action.node)
        self._stops.submit(self._stop, pool, action, launched, row is not None)

    def _stop(self, pool: Pool, action: Retire, launched: Launched, registered: bool) -> None:
        """In a stop thread: the provider stops the node, then its row goes (if it ever registered)."""
        try:
            try:
                pool.provider.stop(launched)
            except LaunchFailed as exc:
                pool.launched[action.node] = (launched, self.ctl.clock())
                self._event(pool, self.ctl.clock(), "stop_failed", f"{action.node} could not be stopped: {exc}",
                            action.node)
                return
            pool.idle_since.pop(action.node, None)
            now = self.ctl.clock()
            with self.ctl.store.begin() as conn:
                lock_core_map(conn)
                if registered:
                    nodes.remove(conn, action.node, now, f"retired by pool {pool.spec.name}", ACTOR)
                events.record(conn, now, "node_retired", f"pool {pool.spec.name}: {action.reason}; stopped",
                              actor=ACTOR, node=action.node, org_id=pool.org_id)
        except Exception:
            log.exception("pool %s: stopping %s failed", pool.spec.name, action.node)
        finally:
            pool.stopping.discard(action.node)
