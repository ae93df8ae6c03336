"""The auth and organization routes fuzzed by schemathesis while signed in, so the fuzzer
reaches the handlers and not only the 401 in front of them (the conformance test over the
whole app runs without a token). Same checks: no 5xx, every status documented."""
from __future__ import annotations

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from tests.control.test_openapi_conformance import CHECKS, SEED, _failures
from tests.live import LiveCluster

pytestmark = pytest.mark.slow


def test_signed_in_no_server_errors_and_only_documented_status_codes(tmp_path):
    cluster = LiveCluster(tmp_path, auth_rate_per_minute=100_000)
    try:
        cluster.start_controller()
        http = cluster.http
        assert http.post("/api/v1/auth/register", json={"username": "fuzzer", "email": "f@example.org",
                                                        "password": "fuzzing-password"}).status_code == 201
        token = http.post("/api/v1/auth/token", data={"username": "fuzzer", "password": "fuzzing-password"})
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # Long-lived, so that the fuzzer's own logout calls revoke one token, not the session.
        api_token = http.post("/api/v1/auth/tokens", json={"name": "fuzz"}, headers=bearer).json()["token"]
        org = http.post("/api/v1/organizations", json={"name": "fuzz-org"}, headers=bearer).json()
        assert org["id"] == 2
        config = SchemathesisConfig.from_dict({
            "seed": SEED, "base-url": cluster.url, "request-timeout": 10, "workers": 1,
            "headers": {"Authorization": f"Bearer {api_token}"},
            "generation": {"max-examples": 25, "deterministic": True, "no-shrink": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        })
        spec = httpx.get(f"{cluster.url}/openapi.json").json()
        # Logout would end the fuzzer's session part-way; it is covered by the token tests.
        spec["paths"]["/api/v1/auth/logout"].pop("post")
        spec["paths"] = {p: ops for p, ops in spec["paths"].items()
                         if p.startswith(("/api/v1/auth", "/api/v1/organizations")) and ops}
        schema = schemathesis.openapi.from_dict(spec, config=config)
        assert len(list(schema.get_all_operations())) >= 15
        failures = _failures(schema)
        assert not failures, "\n".join(failures)
        reached = [e["action"] for e in cluster.every_event() if e["actor"] == "fuzzer"]
        assert reached.count("org_create") > 2, reached  # the handlers ran, not only the 401 in front
    finally:
        cluster.stop()
