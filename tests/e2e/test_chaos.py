"""Chaos, bounded: two controller replicas on one real PostgreSQL, two real agents, a stream
of short jobs; mid-load kill -9 of the leader, then of an agent (started again), then of
PostgreSQL itself (started again). The system recovers by itself, every accepted job ends,
and the invariant checker finds nothing: none lost, none run twice, no core double-booked,
no quota exceeded (tests/chaos.py; bench/bench_chaos.py is the longer run).

The server is the test's own (not the session's): killing it must not take other tests' down.
"""
import pytest

from tests.chaos import FAULTS, Chaos
from tests.postgres_server import PostgresServer, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(240)]
LOAD = 2.0  # seconds of load between faults (the stream runs throughout: every fault lands mid-load)


def test_kill_9_of_leader_agent_and_postgres_mid_load_loses_nothing_and_runs_nothing_twice(tmp_path):
    server = PostgresServer()
    server.start()
    chaos = None
    try:
        wait_ready(server)
        chaos = Chaos(tmp_path, server)
        chaos.start()
        for fault in FAULTS:
            chaos.load(LOAD)
            recovery = chaos.inject(fault)
            print(f"{fault}: recovered in {recovery.seconds:.2f} s ({recovery.detail})")
        chaos.load(LOAD)
        final = chaos.drain()
        report = chaos.check()
        print(final, report.counts())
        assert [r.fault for r in chaos.recoveries] == list(FAULTS)  # each recovered (or wait_for raised)
        assert len(chaos.accepted) >= 10 and report.submitted >= len(chaos.accepted)
        assert report.counts() == {"lost": 0, "run_twice": 0, "double_booked": 0, "over_quota": 0,
                                   "log_mismatch": 0}, "\n".join(v.message for v in report.violations[:20])
        assert final == {"succeeded": len(chaos.accepted)}  # every accepted job ran, once, to its end
    finally:
        if chaos is not None:
            chaos.stop()
        server.stop()
