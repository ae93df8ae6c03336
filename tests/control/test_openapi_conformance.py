"""Every operation of the controller's OpenAPI, fuzzed by schemathesis against a real
controller process on loopback: no answer is a 5xx, every status code is documented.

Bounded and reproducible: a few examples per operation, a fixed seed, no shrinking.
Two things keep the run on this machine and harmless:
- agent endpoints are narrowed to "" in the schema the fuzzer reads, so the controller
  is never told to call (or push jobs to) a generated host;
- the controller runs with every proxy variable pointed at a closed loopback port, so
  even an endpoint that got through could not be reached off the machine.
No agent process runs: generated commands are never executed and generated PIDs are
never adopted. One node is registered over the API so node routes have data.
"""
from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from tests.live import LiveCluster

pytestmark = pytest.mark.slow
SEED = 20240611
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def _narrow_endpoints(spec: dict) -> dict:
    """Only "no endpoint" may be generated for agent endpoints (see the module docstring)."""
    for name in ("AgentRegister", "LegacyRegister"):
        spec["components"]["schemas"][name]["properties"]["endpoint"] = {"type": "string", "enum": [""]}
    return spec


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance")
    cluster = LiveCluster(root)
    cluster.env.update(HTTP_PROXY=NOWHERE, HTTPS_PROXY=NOWHERE, ALL_PROXY=NOWHERE, NO_PROXY="")
    cluster.start_controller()
    node = {"name": "fuzz-node", "endpoint": "", "local_cores": [0, 1], "memory_mb": 1000}
    assert cluster.http.post("/api/v1/agents/register", json=node).status_code == 200
    cluster.submit(["true"])
    yield cluster
    cluster.stop()


CHECKS = ("not_a_server_error", "status_code_conformance")


def _config(base_url: str, token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED, "base-url": base_url, "request-timeout": 10, "workers": 1,
        # The administrator's API token: the job routes need a person. Agent routes take node
        # credentials instead, so there the fuzzer meets their 401 (the tests in tests/control cover them).
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"max-examples": 25, "deterministic": True, "no-shrink": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


def _failures(schema) -> list[str]:
    """Run every phase over every operation (as the CLI does) and describe each failed check."""
    found, errors = [], []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                case = event.recorder.cases[case_id].value
                for check in checks:
                    if check.status == Status.FAILURE:
                        found.append(f"{check.name}: {case.method} {case.formatted_path} query={case.query} "
                                     f"body={case.body!r}: {check.failure_info.failure.title}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(repr(getattr(event, "info", None) or getattr(event, "exception", event)))
    assert not errors, errors
    return sorted(set(found))


def test_no_server_errors_and_only_documented_status_codes(controller):
    spec = _narrow_endpoints(httpx.get(f"{controller.url}/openapi.json").json())
    schema = schemathesis.openapi.from_dict(spec, config=_config(controller.url, controller.token))
    assert len(list(schema.get_all_operations())) >= 15
    failures = _failures(schema)
    assert not failures, "\n".join(failures)
