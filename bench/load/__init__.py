"""A load tool for one controller (bench/bench_load.py drives it).

- ``clients``: N concurrent API clients, each sending M requests of a mix of what
  people and scripts send (list jobs, submit, get a job, a page of events);
- ``agents``: K simulated agents that register with a join token, then heartbeat and
  long-poll their assignments as real agents do, without running anything;
- ``stats``: latencies, errors by status, and the controller process's CPU and memory
  sampled while the load runs.
"""
