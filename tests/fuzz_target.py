"""What every schemathesis run against a live controller does to keep the run on this
machine and harmless (the suite's conformance tests and bench/bench_schema.py):

- agent endpoints are narrowed to "" in the schema the fuzzer reads, so the controller
  is never told to call (or push jobs to) a generated host;
- the controller runs with every proxy variable pointed at a closed loopback port, so
  even an endpoint that got through could not be reached off the machine.

No agent process runs beside it: generated commands are never executed and generated
PIDs are never adopted.
"""
from __future__ import annotations

from tests.live import LiveCluster

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there
REGISTER_BODIES = ("AgentRegister", "LegacyRegister")


def narrow_endpoints(spec: dict) -> dict:
    """Only "no endpoint" may be generated for agent endpoints (see the module docstring)."""
    for name in REGISTER_BODIES:
        spec["components"]["schemas"][name]["properties"]["endpoint"] = {"type": "string", "enum": [""]}
    return spec


def keep_local(cluster: LiveCluster) -> LiveCluster:
    """Before the controller starts: no proxy it could be sent through leads anywhere."""
    cluster.env.update(HTTP_PROXY=NOWHERE, HTTPS_PROXY=NOWHERE, ALL_PROXY=NOWHERE, NO_PROXY="")
    return cluster
