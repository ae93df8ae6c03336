"""Every operation of the controller's OpenAPI, fuzzed by schemathesis against a real
controller process on loopback: no answer is a 5xx, every status code is documented.

Bounded and reproducible: a few examples per operation, a fixed seed, no shrinking.
The run is kept on this machine and harmless as tests/fuzz_target.py says. One node
is registered over the API so node routes have data. The long stateful run over the
same schema is bench/bench_schema.py (docs/api-conformance.md).
"""
from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from tests.fuzz_target import keep_local, narrow_endpoints
from tests.live import LiveCluster

pytestmark = pytest.mark.slow
SEED = 20240611


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance")
    cluster = keep_local(LiveCluster(root))
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
    spec = narrow_endpoints(httpx.get(f"{controller.url}/openapi.json").json())
    schema = schemathesis.openapi.from_dict(spec, config=_config(controller.url, controller.token))
    assert len(list(schema.get_all_operations())) >= 15
    failures = _failures(schema)
    assert not failures, "\n".join(failures)
