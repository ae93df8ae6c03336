"""Serving the controller under uvicorn so that it stops at once and quietly.

Two things in uvicorn's defaults made a stop slow and noisy:
- a graceful shutdown waits for requests in flight, and the agents' assignment
  long-polls are held for up to 25 s; when the wait times out uvicorn cancels
  them and logs a traceback for each. Here, held long-polls are answered first
  (``NodeNotifier.close``), and so are the dashboard's streams (``ChangeBell.close``), so nothing is left in flight to wait for;
- after serving, uvicorn re-raises the signal it caught: SIGTERM then kills the
  process (exit status -15) and SIGINT becomes a KeyboardInterrupt. Here the
  server returns normally, and the caller says what it stopped.

Slow clients are cut off at the protocol (heaven.control.slow_clients).
"""
from __future__ import annotations

import contextlib
import signal

import uvicorn
from fastapi import FastAPI

from heaven.control.slow_clients import guarded_protocol

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ControllerServer(uvicorn.Server):
    def __init__(self, app: FastAPI, host: str, port: int, read_timeout: float = 10.0,
                 write_timeout: float = 30.0) -> None:
        # The grace period only covers a request that is not a long-poll (a slow database read).
        super().__init__(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1,
                                        http=guarded_protocol(read_timeout, write_timeout)))
        self.controller_app = app

    @contextlib.contextmanager
    def capture_signals(self):
        """uvicorn's handler (a second SIGINT forces the exit), without re-raising afterwards."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets=None) -> None:
        controller = getattr(self.controller_app.state, "controller", None)  # the gateway has none
        if controller is not None:
            await controller.notifier.close()
            await controller.changes.close()
        await super().shutdown(sockets)


def serve(app: FastAPI, host: str, port: int, read_timeout: float = 10.0, write_timeout: float = 30.0) -> None:
    """Serve until SIGINT or SIGTERM, then return. The timeouts: HEAVEN_REQUEST_READ_TIMEOUT and
    HEAVEN_RESPONSE_WRITE_TIMEOUT (heaven.control.slow_clients)."""
    ControllerServer(app, host, port, read_timeout, write_timeout).run()
