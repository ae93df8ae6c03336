"""Random histories through the real scheduling core (Hypothesis stateful testing).

A small in-memory cluster (``harness.Model``) lives through random histories:
jobs are submitted (sizes, minimums, priorities, memory, GPUs, dependencies on
earlier jobs, pins, clusters, gangs of 2 or 3 nodes), complete (twice,
sometimes), report usage, are cancelled; nodes are lost, come back, drain.
``cycle`` runs ``schedule`` with core stealing and preemption on, checks the
plan (``harness.check_plan`` and ``verify``; fcfs must stay strict), applies it
as the store does and advances the clock. After every step the invariants of DESIGN.md must hold (``Model.check``), and every
transition must have written exactly one event.

Four machines, one per slice of the configuration space (all must pass; all
but the tight-quota one submit gangs):
- greedy/fcfs, stealing and preemption, no quotas;
- quotas with preemption but no stealing (random quotas of cores, memory and
  GPUs, or quotas just short of the clusters' capacity in all three);
- quotas with stealing and give-back (these once overran quotas);
- the backfilling policies (these once started jobs whose dependencies had not ended);
- fair share: jobs of two organizations on shared nodes, weights 2:1, usage charged as
  the clock advances, so the lend-back evicts alongside preemption and stealing.
"""
from __future__ import annotations

import random

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from heaven.core.feasibility import never_fits
from heaven.core import fairshare
from heaven.core.config import FairShare
from heaven.core.model import Job, Node, Quota, Usage
from heaven.core.scheduler import SchedulerConfig, schedule
from heaven.core.states import JobState, NodeState
from heaven.core.verify import verify
from tests.core.harness import Model, check_plan

CLUSTERS = ("a", "b")

node_specs = st.lists(
    st.fixed_dictionaries({
        "cores": st.integers(2, 8),
        "memory_mb": st.sampled_from([1024, 2048, 4096]),
        "gpus": st.sampled_from([0, 0, 1, 2]),
        "reserved": st.booleans(),
        "cluster": st.sampled_from(CLUSTERS),
    }),
    min_size=1, max_size=4,
)
job_specs = st.fixed_dictionaries({
    "cores": st.sampled_from([1, 1, 2, 2, 3, 4]) | st.integers(1, 8),
    "min_share": st.floats(0, 1),
    "priority": st.integers(0, 3),
    "memory_mb": st.sampled_from([0, 0, 256, 1024]),
    "gpus": st.sampled_from([0, 0, 0, 1]),
    "deps": st.just([]) | st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["afterok", "afterany"])),
                                   max_size=2),
    "pin": st.integers(0, 12),  # pinned to the pin-th node when there is one (never a gang)
    "nodes": st.sampled_from([1, 1, 1, 2, 2, 3]),  # > 1: a gang, one part of the whole request per node
    "cluster": st.sampled_from([None, None, *CLUSTERS]),
    "walltime": st.sampled_from([None, 5.0, 20.0, 80.0]),
})
usage_share = st.sampled_from([None, 0.0, 0.1, 0.2, 0.5, 0.9, 1.0]) | st.floats(0, 1)
quota_specs = st.dictionaries(
    st.sampled_from(CLUSTERS),
    st.builds(Quota, cores=st.integers(1, 10) | st.none(), memory_mb=st.sampled_from([None, 1024, 3072]),
              gpus=st.sampled_from([None, 0, 1])),
    max_size=2,
)


cycles = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32),
    "dt": st.sampled_from([1.0, 5.0, 15.0]),
    "policy": st.integers(0, 3),  # index into the machine's POLICIES
    "victim_order": st.sampled_from(["newest-first", "oldest-first"]),
    "cooldown": st.sampled_from([0.0, 10.0]),
    "headroom": st.sampled_from([0.0, 0.25]),
    "floor": st.sampled_from([1, 1, 2]),  # SchedulerConfig.min_cores
    "explain": st.booleans(),
    "giveback": st.sampled_from(["requeue", "suspend"]),  # suspend: victims freeze, resume on their node
})
CANCELLABLE = (JobState.PENDING, JobState.RUNNING, JobState.SUSPENDED)
# Like the controller, which runs a cycle on every submit and complete, a change is usually followed by a cycle.
wakes = st.none() | cycles


class ClusterHistory(RuleBasedStateMachine):
    POLICIES: tuple[str, ...] = ("greedy", "fcfs")
    STEAL = True
    # True: random quotas (or none) or tight ones in cores, memory and GPUs; "tight": every cluster a core quota
    # just short of its capacity.
    QUOTAS: bool | str = False
    GANGS = True  # False: every job is on one node (a spec's "nodes" is still drawn, then ignored)
    # Fair share on, and each job of organization 1 or 2 (read off its pin draw: the other machines' draws stay).
    FAIR_SHARE: FairShare | None = None

    def __init__(self) -> None:
        super().__init__()
        self.m = Model()
        self.expected_transitions = 0

    @initialize(specs=node_specs, quotas=quota_specs, tight=st.integers(1, 4),
                first_jobs=st.lists(job_specs, max_size=10), wake=wakes)
    def build(self, specs, quotas, tight, first_jobs, wake):
        offset = 0
        for i, s in enumerate(specs):
            reserved = frozenset({0}) if s["reserved"] else frozenset()
            name = f"n{i + 1}"
            self.m.nodes[name] = Node(name, offset, tuple(range(s["cores"])), memory_mb=s["memory_mb"], gpus=s["gpus"],
                                      reserved=reserved, cluster=s["cluster"])
            offset += s["cores"] + 3  # gaps in the core map: global indices are not positions
        nodes = self.m.nodes.values()
        held = {c: sum(n.schedulable_cores for n in nodes if n.cluster == c) for c in CLUSTERS}
        if self.QUOTAS == "tight":  # every cluster ``tight`` cores short of what its nodes hold
            self.m.quotas = {c: Quota(cores=max(1, held[c] - tight)) for c in CLUSTERS}
        elif self.QUOTAS:  # random, or short of what the nodes hold by ``tight`` cores, GB and GPUs
            short = {c: Quota(cores=max(1, held[c] - tight),
                              memory_mb=max(0, sum(n.memory_mb for n in nodes if n.cluster == c) - 1024 * tight),
                              gpus=max(0, sum(n.gpus for n in nodes if n.cluster == c) - tight)) for c in CLUSTERS}
            self.m.quotas = quotas if tight % 2 else short
        self.submit(first_jobs, wake)  # start from a busy cluster: most bugs need one

    # -- users ----------------------------------------------------------------------------------
    @rule(specs=st.lists(job_specs, min_size=1, max_size=5), wake=wakes)
    def submit(self, specs, wake):
        for s in specs:
            ids = sorted(self.m.jobs)
            depends_on = tuple(sorted({(ids[i % len(ids)], kind) for i, kind in s["deps"]})) if ids else ()
            names = sorted(self.m.nodes)
            nodes = s["nodes"] if self.GANGS else 1
            node = names[s["pin"]] if s["pin"] < len(names) and nodes == 1 else None
            cluster = s["cluster"]
            if node is not None and cluster is not None:
                cluster = self.m.nodes[node].cluster  # a pin into another cluster: refused (test_quotas.py)
            cores = s["cores"]
            job = Job(0, cores=cores, min_cores=max(1, round(s["min_share"] * cores)), memory_mb=s["memory_mb"],
                      gpus=s["gpus"], priority=s["priority"], node=node, cluster=cluster, walltime=s["walltime"],
                      depends_on=depends_on, nodes=nodes, org=1 + s["pin"] % 2 if self.FAIR_SHARE else None)
            if never_fits(job, list(self.m.nodes.values())) is None:  # admission, as the API does at submit
                self.m.submit(job)
        self.wake(wake)

    @precondition(lambda self: self.m.running())
    @rule(pick=st.integers(0, 10**6), ok=st.booleans(), wake=wakes)
    def complete(self, pick, ok, wake):
        running = self.m.running()
        assert self.m.complete(running[pick % len(running)], ok)
        self.expected_transitions += 1
        self.wake(wake)

    @precondition(lambda self: any(j.state in (JobState.SUCCEEDED, JobState.FAILED) for j in self.m.jobs.values()))
    @rule(pick=st.integers(0, 10**6), ok=st.booleans())
    def complete_again(self, pick, ok):
        """A late or repeated exit report of a job that already ended changes nothing."""
        ended = sorted(j.id for j in self.m.jobs.values() if j.state in (JobState.SUCCEEDED, JobState.FAILED))
        job_id = ended[pick % len(ended)]
        before = (self.m.jobs[job_id], len(self.m.events))
        assert not self.m.complete(job_id, ok)
        assert (self.m.jobs[job_id], len(self.m.events)) == before

    @precondition(lambda self: self.m.running())
    @rule(samples=st.lists(st.tuples(usage_share, usage_share), min_size=1, max_size=6), skip=st.integers(0, 5),
          wake=wakes)
    def report_usage(self, samples, skip, wake):
        """Telemetry for the running jobs (from the ``skip``-th on): (estimate, latest sample) as shares of what
        each holds; None is a job still warming up."""
        for i, job_id in enumerate(self.m.running()[skip:]):
            used, recent = samples[i % len(samples)]
            held = len(self.m.allocs[job_id][0].cores)  # the parts of a gang are never resized
            self.m.report(job_id, None if used is None else used * held, None if recent is None else recent * held)
        self.wake(wake)

    @precondition(lambda self: any(j.state in CANCELLABLE for j in self.m.jobs.values()))
    @rule(pick=st.integers(0, 10**6), wake=wakes)
    def cancel(self, pick, wake):
        active = sorted(j.id for j in self.m.jobs.values() if j.state in CANCELLABLE)
        assert self.m.cancel(active[pick % len(active)])
        self.expected_transitions += 1
        self.wake(wake)

    # -- nodes ----------------------------------------------------------------------------------
    @rule(change=st.sampled_from(["disconnect", "lose", "drain", "back", "back"]), pick=st.integers(0, 10), wake=wakes)
    def node_changes(self, change, pick, wake):
        """A node stops heartbeating (disconnected: its jobs keep their cores), stays silent past its grace
        (down: its jobs are lost and requeued), is drained, or comes back up."""
        want = {"disconnect": lambda n: n.state in (NodeState.UP, NodeState.DRAIN),
                "lose": lambda n: n.state != NodeState.DOWN, "drain": lambda n: n.state == NodeState.UP,
                "back": lambda n: n.state != NodeState.UP}[change]
        names = [name for name, node in sorted(self.m.nodes.items()) if want(node)]
        if names:
            name = names[pick % len(names)]
            if change == "disconnect":
                self.m.disconnect_node(name)
                self.expected_transitions += 1
            elif change == "lose":
                moves = 1 if self.m.nodes[name].state == NodeState.DISCONNECTED else 2
                self.expected_transitions += moves + 2 * self.m.lose_node(name)
            else:
                self.m.node_transition(name, NodeState.DRAIN if change == "drain" else NodeState.UP)
                self.expected_transitions += 1
        self.wake(wake)

    # -- the scheduler ------------------------------------------------------------------------
    @rule(args=cycles)
    def cycle(self, args):
        self.wake(args)

    def wake(self, args) -> None:
        """One scheduling cycle through the real core, its plan checked, then applied as the store does."""
        if args is None:
            return
        config = SchedulerConfig(policy=self.POLICIES[args["policy"] % len(self.POLICIES)], steal=self.STEAL,
                                 preempt=True, victim_order=args["victim_order"], cooldown=args["cooldown"],
                                 headroom=args["headroom"], min_cores=args["floor"], explain=args["explain"],
                                 fair_share=self.FAIR_SHARE, giveback=args["giveback"])
        self.m.now += args["dt"]
        if self.FAIR_SHARE is not None:
            self.charge_usage(args["dt"])
        snap = self.m.snapshot()
        doomed = {j.id for j in snap.pending()
                  if any(kind == "afterok" and snap.ended.get(dep) not in (None, JobState.SUCCEEDED)
                         for dep, kind in j.depends_on)}
        plan = schedule(snap, self.m.now, random.Random(args["seed"]), config)
        checked = verify(snap, plan)
        assert checked.rejected == [], f"verify rejects parts of a fresh plan: {checked.rejected}"
        check_plan(snap, plan, self.m.now, config)
        before = len(self.m.events)
        self.m.apply(plan)
        started = len({p.job_id for p in plan.placements})  # a gang starts once, however many parts
        # A start is two transitions: assigned, then running; a suspension and a resume are one each.
        changes = 2 * len(plan.preemptions) + len(plan.cancellations) + 2 * started + len(plan.suspensions) \
            + len(plan.resumes)
        assert len(self.m.events) - before == changes + len(plan.shrinks) + len(plan.grows), \
            "one event per transition and per live resize"
        self.expected_transitions += changes
        if config.policy == "greedy":
            # Every pending job was looked at: none is left whose afterok dependency had failed in the
            # snapshot (a chain is cancelled one link per cycle: waiting is always safe).
            left = doomed & set(self.m.pending())
            assert not left, f"jobs {sorted(left)} still pending though an afterok dependency failed"

    def charge_usage(self, dt: float) -> None:
        """What each organization's jobs held over the last ``dt`` seconds, decayed as the store reads it."""
        half_life, now = self.FAIR_SHARE.half_life, self.m.now
        usage = {key: fairshare.decay(u.core_seconds, u.at, now, half_life) for key, u in self.m.usage.items()}
        for job_id, parts in self.m.allocs.items():
            for part in parts:
                key = (self.m.jobs[job_id].org, self.m.nodes[part.node].cluster)
                usage[key] = usage.get(key, 0.0) + fairshare.core_seconds(len(part.cores), now - dt, now, now, half_life)
        self.m.usage = {key: Usage(value, now) for key, value in usage.items()}

    # -- after every step -----------------------------------------------------------------------
    @invariant()
    def invariants_hold(self):
        self.m.check()

    @invariant()
    def every_transition_is_one_event(self):
        assert self.m.transitions() == self.expected_transitions


# Example counts keep tests/core within about a minute on a 2-core machine: most of the time goes
# into Hypothesis drawing the histories, not into the core.
FAST = settings(max_examples=100, stateful_step_count=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
# The machines that once found bugs replay a fixed seed with no example database, so a regression
# shows on every run (the unit tests in test_quotas.py and test_dependencies.py show each bug minimal).
FIXED = settings(FAST, derandomize=True, database=None, report_multiple_bugs=False,
                 phases=[Phase.explicit, Phase.generate])


class GreedyHistories(ClusterHistory):
    pass


class QuotaHistoriesWithoutStealing(ClusterHistory):
    STEAL = False
    QUOTAS = True


class QuotaHistories(ClusterHistory):
    QUOTAS = "tight"
    # The replay of the stealing bugs. Gangs never steal: with them in the mix, the 300 histories of the
    # fixed seed no longer found the stealing quota bug when it was put back by hand; without them they
    # do. Gangs against quotas (cores, memory, GPUs) are QuotaHistoriesWithoutStealing's part.
    GANGS = False


class BackfillHistories(ClusterHistory):
    POLICIES = ("easy", "rl-backfill")


class FairShareHistories(ClusterHistory):
    FAIR_SHARE = FairShare(half_life=60.0, weights=(((1, "a"), 2.0),))


TestGreedyHistories = GreedyHistories.TestCase
TestGreedyHistories.settings = FAST

TestQuotaHistoriesWithoutStealing = QuotaHistoriesWithoutStealing.TestCase
TestQuotaHistoriesWithoutStealing.settings = FAST


class TestQuotaHistories(QuotaHistories.TestCase):
    settings = settings(FIXED, max_examples=300)  # about one history in a hundred broke a quota before the fix


class TestBackfillHistories(BackfillHistories.TestCase):
    settings = FIXED


TestFairShareHistories = FairShareHistories.TestCase
TestFairShareHistories.settings = settings(FAST, max_examples=50)
