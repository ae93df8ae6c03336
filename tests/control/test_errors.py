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


def test_a_pool_with_no_connection_left_is_a_503_too(tmp_path):
    """Every pooled connection held (a hung server holds them all): the wait for one runs out."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}", pool_size=1, max_overflow=0, pool_timeout=0.1)
    app = FastAPI()
    install(app)

    @app.get("/busy")
    def busy():
        with engine.connect() as conn:
            return {"one": conn.execute(text("SELECT 1")).scalar()}

    held = engine.connect()
    try:
        answer = TestClient(app, raise_server_exceptions=False).get("/busy")
    finally:
        held.close()
        engine.dispose()
    assert answer.status_code == 503 and answer.json()["error"] == "store_unavailable"
