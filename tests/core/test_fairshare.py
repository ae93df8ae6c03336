"""Fair share between organizations (heaven/core/fairshare.py): the factor and its decay, the
queue order across organizations, shares held under a flood, and lending idle cores back.

Organizations share a cluster on nodes of no organization (``org=None``); every plan goes
through ``harness.run_cycle`` (verify, check_plan, invariants) or a ``Model`` of the harness.
"""
import math
import random

import pytest

from heaven.core import fairshare
from heaven.core.config import FairShare
from heaven.core.model import Job, Usage
from heaven.core.scheduler import SchedulerConfig, schedule
from tests.builders import job, node, running, snapshot_with
from tests.core.harness import Model, run_cycle

HOUR = 3600.0


def fair(weights: dict[int, float] | None = None, half_life: float = 7 * 24 * HOUR, **kw) -> SchedulerConfig:
    pairs = tuple(((org, "default"), w) for org, w in (weights or {}).items())
    return SchedulerConfig(fair_share=FairShare(half_life, pairs), **kw)


# --- the factor and its decay ------------------------------------------------------------


def test_usage_halves_every_half_life():
    assert fairshare.decay(100.0, since=10.0, now=10.0 + HOUR, half_life=HOUR) == pytest.approx(50.0)
    assert fairshare.decay(100.0, since=10.0, now=10.0 + 3 * HOUR, half_life=HOUR) == pytest.approx(12.5)
    assert fairshare.decay(100.0, since=10.0, now=10.0, half_life=HOUR) == 100.0


def test_core_seconds_are_the_integral_of_decayed_cores():
    h = HOUR
    # Two cores for one half-life ending now: 2 × ∫0^h 2^-(t/h) dt = 2 × h / (2 ln 2).
    assert fairshare.core_seconds(2, 0.0, h, h, h) == pytest.approx(2 * h / (2 * math.log(2)))
    # A short interval is nearly cores × seconds, decayed by its age.
    assert fairshare.core_seconds(4, 0.0, 1.0, h, h) == pytest.approx(4 * 0.5, rel=1e-3)
    # What has not happened by ``now`` counts nothing; numeric sum over small steps agrees.
    assert fairshare.core_seconds(4, 10.0, 20.0, 5.0, h) == 0.0
    steps = sum(fairshare.core_seconds(3, t, t + 60.0, 7200.0, h) for t in range(0, 7200, 60))
    assert steps == pytest.approx(fairshare.core_seconds(3, 0.0, 7200.0, 7200.0, h))


def test_factor_is_two_to_minus_usage_over_shares():
    snap = snapshot_with([node("n", 4)], [job(1, org=1), job(2, org=2)],
                         usage={(1, "default"): Usage(300.0, 0.0), (2, "default"): Usage(100.0, 0.0)})
    f = fairshare.factors(snap, 0.0, FairShare())
    assert f[1, "default"] == pytest.approx(2 ** -(0.75 / 0.5))
    assert f[2, "default"] == pytest.approx(2 ** -(0.25 / 0.5))
    # With weights 3:1, organization 1 used exactly its share: F = 1/2.
    f = fairshare.factors(snap, 0.0, FairShare(weights=(((1, "default"), 3.0),)))
    assert f[1, "default"] == pytest.approx(0.5) and f[2, "default"] == pytest.approx(0.5)
    # Nobody used anything: everyone is at 1.
    assert set(fairshare.factors(snapshot_with([], [job(1, org=1)]), 0.0, FairShare()).values()) == {1.0}


def test_old_usage_weighs_less_once_decayed_to_now():
    # 400 core-seconds two half-lives ago weigh 100, against 200 recorded now: org 2 is the heavier.
    snap = snapshot_with([], [job(1, org=1), job(2, org=2)],
                         usage={(1, "default"): Usage(400.0, 0.0), (2, "default"): Usage(200.0, 2 * HOUR)})
    f = fairshare.factors(snap, 2 * HOUR, FairShare(half_life=HOUR))
    assert f[1, "default"] > f[2, "default"]
    assert f[1, "default"] == pytest.approx(2 ** -((100 / 300) / 0.5))


# --- the queue order -------------------------------------------------------------------------


def order_of(snap, config):
    plan = schedule(snap, 0.0, random.Random(0), config)
    return [j for j, _ in sorted(plan.positions.items(), key=lambda kv: kv[1])]


def test_the_organization_that_used_less_goes_first_within_a_priority():
    pending = [job(1, org=1, submitted_at=1.0), job(2, org=1, submitted_at=2.0), job(3, org=2, submitted_at=3.0),
               job(4, org=2, submitted_at=4.0, priority=5), job(5, org=1, submitted_at=5.0, priority=5)]
    usage = {(1, "default"): Usage(1000.0, 0.0), (2, "default"): Usage(10.0, 0.0)}
    snap = snapshot_with([], pending, usage=usage)
    assert order_of(snap, SchedulerConfig()) == [4, 5, 1, 2, 3]  # without fair share: priority, then FIFO
    assert order_of(snap, fair()) == [4, 5, 3, 1, 2]  # priority first; then org 2; FIFO within an org
    # fifo ignores priorities, so fair share alone orders across organizations.
    assert order_of(snap, fair(order="fifo")) == [3, 4, 1, 2, 5]


def test_without_usage_the_configured_order_stands():
    pending = [job(i, org=1 + i % 2, submitted_at=float(i)) for i in range(1, 7)]
    assert order_of(snapshot_with([], pending), fair()) == [1, 2, 3, 4, 5, 6]


def test_fair_share_decides_who_gets_the_last_free_cores():
    nodes = [node("n", 2)]
    pending = [job(1, cores=2, org=1, submitted_at=1.0), job(2, cores=2, org=2, submitted_at=2.0)]
    usage = {(1, "default"): Usage(50.0, 0.0), (2, "default"): Usage(0.0, 0.0)}
    plan = run_cycle(snapshot_with(nodes, pending, usage=usage), fair())
    assert [p.job_id for p in plan.placements] == [2]
    plan = run_cycle(snapshot_with(nodes, pending, usage=usage), SchedulerConfig())
    assert [p.job_id for p in plan.placements] == [1]


# --- a flood: each organization holds its weight's share -------------------------------------


def flood(weights: dict[int, float], cores: int = 8, run: float = 10.0, until: float = 600.0,
          window: tuple[float, float] = (200.0, 600.0)) -> dict[int, float]:
    """Two organizations keep 20 jobs each waiting on one shared node; the share of the core-seconds
    each used within ``window``. Usage is charged as the store reads it: core-seconds, decayed."""
    model = Model(nodes={"n": node("n", cores)})
    config = fair(weights, half_life=HOUR)
    started: dict[int, float] = {}
    used = {org: 0.0 for org in weights}
    past = {org: 0.0 for org in weights}
    step = 1.0
    while model.now < until:
        for org in weights:
            waiting = sum(1 for j in model.jobs.values() if j.org == org and j.id not in model.allocs
                          and j.state == "pending")
            for _ in range(20 - waiting):
                model.submit(Job(0, cores=1, org=org))
        model.usage = {(org, "default"): Usage(past[org], model.now) for org in weights}
        plan = run_cycle(model.snapshot(), config, model.now)
        model.apply(plan)
        model.check()
        for p in plan.placements:
            started[p.job_id] = model.now
        model.now += step
        for job_id in list(model.allocs):
            org = model.jobs[job_id].org
            past[org] = fairshare.decay(past[org], model.now - step, model.now, HOUR) + \
                fairshare.core_seconds(1, model.now - step, model.now, model.now, HOUR)
            if window[0] < model.now <= window[1]:
                used[org] += step
            if model.now - started[job_id] >= run:
                model.complete(job_id)
    total = sum(used.values())
    return {org: u / total for org, u in used.items()}


@pytest.mark.parametrize("weights", [{1: 1.0, 2: 1.0}, {1: 3.0, 2: 1.0}])
def test_two_organizations_flooding_one_cluster_hold_their_weights_share(weights):
    shares = flood(weights)
    total = sum(weights.values())
    for org, weight in weights.items():
        assert shares[org] == pytest.approx(weight / total, rel=0.10), shares


# --- lending and taking back ---------------------------------------------------------------------


def borrowed_node(borrower_jobs: int = 8, cores: int = 8):
    """Organization 2 alone ran: it holds all of a shared node's cores, one core a job."""
    return [running(job(100 + i, org=2, priority=5), "n", (i,), started_at=float(i)) for i in range(borrower_jobs)]


def test_an_organization_alone_borrows_every_idle_core():
    plan = run_cycle(snapshot_with([node("n", 8)], [job(i, org=2) for i in range(1, 11)]), fair())
    assert len(plan.placements) == 8


@pytest.mark.parametrize("weights, back", [({1: 1.0, 2: 1.0}, 4), ({1: 3.0, 2: 1.0}, 6)])
def test_a_lender_gets_its_share_back_within_one_cycle(weights, back):
    lender = [job(i, org=1, priority=0) for i in range(1, 9)]
    plan = run_cycle(snapshot_with([node("n", 8)], lender, borrowed_node()), fair(weights, preempt=True), now=50.0)
    assert sorted(p.job_id for p in plan.placements) == list(range(1, 1 + back))  # its share, not a core more
    evicted = [p.job_id for p in plan.preemptions]
    assert len(evicted) == back and all(j >= 100 for j in evicted)
    assert sorted(evicted) == list(range(108 - back, 108))  # newest first, preemption's victim order
    assert all("takes back its fair share" in p.reason for p in plan.preemptions)


def test_without_fair_share_a_lower_priority_lender_waits():
    plan = run_cycle(snapshot_with([node("n", 8)], [job(1, org=1)], borrowed_node()), SchedulerConfig(preempt=True))
    assert plan.placements == [] and plan.preemptions == []


def test_nothing_is_taken_back_from_an_organization_within_its_share():
    # Organization 2 holds 4 of 8 (its share), organization 1 holds 2 and wants more: no free core, no lending.
    jobs = borrowed_node(4) + [running(job(200 + i, org=1), "n", (4 + i,)) for i in range(2)] + \
        [running(job(300 + i, org=3), "n", (6 + i,)) for i in range(2)]
    plan = run_cycle(snapshot_with([node("n", 8)], [job(1, org=1)], jobs), fair({1: 1, 2: 2, 3: 1}))
    assert plan.placements == [] and plan.preemptions == []


def test_an_organizations_own_node_never_lends():
    # The same history on a node of organization 2 (only its jobs can run there): nothing moves.
    jobs = [running(job(100 + i, org=2), "n", (i,)) for i in range(4)]
    plan = run_cycle(snapshot_with([node("n", 4, org=2), node("m", 1, offset=4, org=1)],
                                   [job(1, org=1, cores=2)], jobs), fair())
    assert plan.placements == [] and plan.preemptions == []
