"""The dashboard's stream over real HTTP: it checks its token again as it goes, so after
the token is logged out (revoked) the stream ends instead of serving on."""
import httpx
import pytest

from tests.live import LiveCluster

pytestmark = pytest.mark.slow


def test_the_stream_ends_when_its_token_is_logged_out(tmp_path):
    cluster = LiveCluster(tmp_path)
    cluster.start_controller()
    try:
        headers = cluster.auth_headers()
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            with client.stream("GET", "/api/v1/dashboard/stream", headers=headers) as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith("event:")) == "event: view"
                assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
                after = list(lines)  # returns only because the server ended the stream
            assert client.get("/api/v1/dashboard", headers=headers).status_code == 401
        assert sum(line.startswith("event: view") for line in after) <= 1  # at most one sent before the check
    finally:
        cluster.stop()
