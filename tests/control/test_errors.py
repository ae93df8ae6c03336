"""The error shape of answers no route raises itself: the database gone mid-request."""
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from heaven.control.errors import install


def test_a_database_that_cannot_be_reached_is_a_503_in_the_error_shape_not_a_500():
    app = FastAPI()
    install(app)

    @app.get("/down")
    def down():
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection to server at 127.0.0.1 failed"))

    answer = TestClient(app, raise_server_exceptions=False).get("/down")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    body = answer.json()
    assert body["error"] == "store_unavailable" and body["field"] is None
    assert "try again" in body["message"] and "127.0.0.1" not in body["message"]  # no internals told
