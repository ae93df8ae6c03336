"""The replay: exact schedules on small workloads, the usage model, determinism."""
import pytest

from heaven.core.plan import Cancel, Grow, Place, Plan, Preempt, Shrink
from heaven.core.states import JobState
from heaven.sim.engine import NODE, Replay
from heaven.sim.protocol import SimJob, prepare
from heaven.sim.reader import read_swf
from heaven.sim.run import config_for, simulate
from tests.sim.conftest import CTC, need_traces

WHOLE = "whole"


def times(outcome):
    return {r.id: (r.start, r.end) for r in outcome.records}


def replay(jobs, cores, policy="fcfs", steal=False, **kw):
    return Replay(jobs, cores, config_for(policy, "fifo", steal, WHOLE), check=True, **kw).run()


JOBS = [SimJob(1, 0, 100, 2, 100), SimJob(2, 1, 50, 4, 50), SimJob(3, 2, 20, 2, 20)]


def test_fcfs_waits_for_the_wide_job_easy_backfills_the_short_one():
    assert times(replay(JOBS, 4, "fcfs")) == {1: (0, 100), 2: (100, 150), 3: (150, 170)}
    assert times(replay(JOBS, 4, "easy")) == {1: (0, 100), 2: (100, 150), 3: (2, 22)}
    assert times(replay(JOBS, 4, "rl-backfill")) == {1: (0, 100), 2: (100, 150), 3: (2, 22)}


def test_a_job_runs_its_recorded_time_not_its_estimate():
    out = replay([SimJob(1, 0, 30, 4, 1000), SimJob(2, 5, 10, 4, 10)], 4)
    assert times(out) == {1: (0, 30), 2: (30, 40)}


def test_stealing_places_a_waiting_job_on_idle_cores_without_slowing_the_donor():
    jobs = [SimJob(1, 0, 100, 4, 100, parallelism=1.0), SimJob(2, 10, 10, 2, 10)]
    assert times(replay(jobs, 4)) == {1: (0, 100), 2: (100, 110)}
    out = replay(jobs, 4, steal=True)
    assert times(out) == {1: (0, 100), 2: (10, 20)}  # the donor keeps ceil(1 × 1.25) = 2 cores ≥ its use
    donor = next(r for r in out.records if r.id == 1)
    assert donor.shrinks == [(10, 2)]


def test_a_job_shrunk_below_its_parallelism_stretches_in_proportion():
    job = SimJob(1, 0, 100, 4, 100, parallelism=4.0)
    engine = Replay([job], 4, config_for("fcfs", "fifo", False, WHOLE))
    engine._arrive(job)
    engine._cycle()
    engine._advance(50.0)
    engine._apply(Plan(shrinks=[Shrink(1, NODE, (2, 3))]))
    # 50 s of work left at half speed: it ends at 50 + 100.
    assert engine._next_end() == 150.0
    assert engine.running[1].alloc.cores == (0, 1) and engine.busy_cores == 2


def test_a_plan_part_the_simulator_does_not_model_stops_the_replay():
    engine = Replay(JOBS, 4, config_for("fcfs", "fifo", False, WHOLE))
    engine._arrive(JOBS[0])
    engine._cycle()  # job 1 runs on cores 0-1
    engine._arrive(JOBS[1])
    engine._arrive(JOBS[2])
    before = (dict(engine.running), dict(engine.pending), engine.busy_cores)
    plan = Plan(placements=[Place(3, NODE, (2, 3))], cancellations=[Cancel(2, "test")])  # job 3 fits beside job 1
    with pytest.raises(RuntimeError, match="does not carry out cancellations"):
        engine._apply(plan)
    assert (dict(engine.running), dict(engine.pending), engine.busy_cores) == before, "nothing is half-applied"


def test_a_grow_gives_a_shrunk_job_its_speed_back():
    job = SimJob(1, 0, 100, 4, 100, parallelism=4.0)
    engine = Replay([job], 4, config_for("fcfs", "fifo", False, WHOLE))
    engine._arrive(job)
    engine._cycle()
    engine._advance(50.0)
    engine._apply(Plan(shrinks=[Shrink(1, NODE, (2, 3))]))  # 50 s of work left, at half speed from t=50
    engine._advance(70.0)
    engine._apply(Plan(grows=[Grow(1, NODE, (2, 3))]))  # 10 s done at half speed: 40 s left at full speed
    assert engine._next_end() == 110.0
    assert engine.running[1].alloc.cores == (0, 1, 2, 3) and engine.busy_cores == 4
    assert engine.running[1].record.shrinks == [(50.0, 2)]


def test_an_evicted_job_goes_back_to_the_queue_and_its_cores_free():
    engine = Replay(JOBS, 4, config_for("fcfs", "fifo", False, WHOLE))
    engine._arrive(JOBS[0])
    engine._cycle()  # job 1 runs on cores 0-1
    engine._arrive(JOBS[2])
    engine._apply(Plan(preemptions=[Preempt(1, NODE, "test")], placements=[Place(3, NODE, (0, 1))]))
    assert sorted(engine.running) == [3] and sorted(engine.pending) == [1]
    assert engine.busy_cores == len(engine.running[3].alloc.cores) == 2
    assert engine.pending[1].state == JobState.PENDING


def test_one_cycle_per_event_even_at_the_same_instant():
    # Job 2 arrives at t=100, exactly when job 1 ends: two events, two cycles.
    out = replay([SimJob(1, 0, 100, 4, 100), SimJob(2, 100, 10, 4, 10)], 4)
    assert times(out) == {1: (0, 100), 2: (100, 110)} and out.cycles == 4


@pytest.fixture(scope="module")
def ctc_slice():
    need_traces()
    workload = prepare(read_swf(CTC), WHOLE)
    workload.sequences = [workload.sequences[0][:1500]]
    return workload


def test_invariants_hold_while_stealing_on_a_real_trace(ctc_slice):
    result = simulate(ctc_slice, config_for("easy", "fifo", True, WHOLE), usage_noise=0.3, check=True)
    assert result.metrics.jobs == 1500 and result.metrics.shrinks > 0


def test_same_trace_policy_and_seed_give_identical_numbers(ctc_slice):
    config = config_for("easy", "f1", True, WHOLE)
    first = simulate(ctc_slice, config, seed=7, usage_noise=0.5)
    again = simulate(ctc_slice, config, seed=7, usage_noise=0.5)
    other = simulate(ctc_slice, config, seed=8, usage_noise=0.5)
    assert first.metrics == again.metrics
    assert [(r.id, r.start, r.end) for r in first.outcomes[0].records] == \
        [(r.id, r.start, r.end) for r in again.outcomes[0].records]
    assert first.metrics != other.metrics  # the seed does reach the usage noise


def test_without_noise_the_seed_changes_nothing(ctc_slice):
    config = config_for("easy", "fifo", True, WHOLE)
    assert simulate(ctc_slice, config, seed=1).metrics == simulate(ctc_slice, config, seed=2).metrics


def test_a_misjudged_donor_is_slowed_at_most_by_the_headroom_and_noise_bound(ctc_slice):
    # Seen use ≥ parallelism × (1 - noise), kept ≥ seen × (1 + headroom): at worst
    # a donor runs at (1 - 0.5) × 1.2 = 60% speed, a slowdown of 1 / 0.6.
    m = simulate(ctc_slice, config_for("easy", "fifo", True, WHOLE, headroom=0.2), seed=3, usage_noise=0.5).metrics
    assert 1.0 < m.donor_slowdown_max <= 1 / 0.6 + 1e-9


def test_a_job_that_can_never_start_stops_the_replay_instead_of_vanishing():
    with pytest.raises(RuntimeError, match=r"jobs \[2\] can never start"):
        replay([SimJob(1, 0, 10, 2, 10), SimJob(2, 1, 10, 8, 10)], 4)
