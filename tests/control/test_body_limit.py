"""Oversize request bodies: 413 with the error shape, before the body is read, on a real controller."""
import json
import socket

import pytest

from tests.live import LiveCluster

LIMIT = 4096


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    cluster = LiveCluster(tmp_path_factory.mktemp("limit"), max_body_bytes=LIMIT)
    cluster.start_controller()
    yield cluster
    cluster.stop()


def _raw(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    """Send exactly these bytes; read the answer (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(controller):
    # Only the headers go out: the answer comes although the 1 MB it announces never does.
    head = (f"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {controller.token}\r\nContent-Length: {1024 * 1024}\r\n\r\n").encode()
    status, body = _raw(controller.port, head)
    assert status == 413
    assert body == {"error": "body_too_large", "field": "body",
                    "message": f"the request body is over the limit of {LIMIT} bytes (HEAVEN_MAX_BODY_BYTES)"}


def test_a_chunked_body_is_counted_as_it_streams_and_nothing_is_written(controller):
    def chunks():
        yield b'{"command": ["true"], "name": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'
    answer = controller.http.post("/api/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"] == "body_too_large" and answer.json()["field"] == "body"
    assert controller.http.get("/api/v1/jobs").json() == []
    # A body under the limit is served as before.
    assert controller.http.post("/api/v1/jobs", json={"command": ["true"]}).status_code == 201


def test_the_limit_is_a_setting_with_a_floor():
    from pydantic import ValidationError

    from heaven.config import ControllerSettings
    with pytest.raises(ValidationError):
        ControllerSettings(max_body_bytes=10)
    assert ControllerSettings().max_body_bytes == 1024 * 1024
