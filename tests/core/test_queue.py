"""Queue orderings: FIFO, priority, shortest-estimate-first, F1."""
import math

from hypothesis import given
from hypothesis import strategies as st

from heaven.core import queue
from tests.builders import job


def ids(jobs):
    return [j.id for j in jobs]


def test_sjf_orders_by_estimate_then_submit_time_and_unknown_estimates_go_last():
    jobs = [job(1, walltime=50.0, submitted_at=5), job(2, walltime=10.0, submitted_at=9),
            job(3, walltime=10.0, submitted_at=3), job(4, submitted_at=0), job(5, walltime=50.0, submitted_at=1)]
    assert ids(queue.order(jobs, "sjf")) == [3, 2, 5, 1, 4]


def test_f1_is_the_published_score():
    j = job(1, cores=16, walltime=3600.0, submitted_at=86400.0)
    assert math.isclose(queue.f1_score(j), math.log10(3600) * 16 + 870 * math.log10(86400))
    # RLScheduler reads a non-positive estimate or submit time as 0.1.
    assert math.isclose(queue.f1_score(job(2, cores=4, walltime=0.0, submitted_at=0.0)), -4 - 870)
    assert queue.f1_score(job(3, cores=4)) == math.inf


def test_f1_lowest_first_trades_size_and_length_against_age():
    small_long = job(1, cores=1, walltime=36000.0, submitted_at=1000.0)
    wide_long = job(2, cores=64, walltime=36000.0, submitted_at=1000.0)
    later = job(3, cores=1, walltime=10.0, submitted_at=2000.0)
    assert ids(queue.order([wide_long, later, small_long], "f1")) == [small_long.id, later.id, wide_long.id]


def test_priority_comes_first_in_every_ordering():
    jobs = [job(1, walltime=1.0, submitted_at=0), job(2, walltime=99.0, submitted_at=5, priority=1)]
    for name in ("priority", "sjf", "f1"):
        assert ids(queue.order(jobs, name))[0] == 2
    assert ids(queue.order(jobs, "fifo")) == [1, 2]


JOBS = st.lists(
    st.builds(lambda i, p, s, w, c: job(i, cores=c, priority=p, submitted_at=s, walltime=w),
              st.integers(0, 10_000), st.integers(-2, 2), st.floats(0, 1e6), st.none() | st.floats(0, 1e5),
              st.integers(1, 64)),
    max_size=40, unique_by=lambda j: j.id,
)


@given(JOBS)
def test_fast_paths_agree_with_the_sort_keys(jobs):
    for name, key in queue.ORDERINGS.items():
        assert ids(queue.order(jobs, name)) == ids(sorted(jobs, key=key))
