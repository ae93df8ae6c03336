"""A gateway worker: a small HTTP server that runs operations on the cores it is pinned to.

Run by an agent as a deployment (``python -m heaven.gateway.worker``); it listens on a free
port of 127.0.0.1 and says where on its first line of output, which the gateway reads through
the controller's logs API (``LISTENING``). Its routes:

- ``POST /run {operation, data}`` -> ``{result, seconds, wall_seconds}`` (seconds: what the
  call takes alone on its cores, as the operation measured it; else its wall time);
- ``GET /load`` -> ``{cpu_percent, cores, running}``: its process tree's CPU since the last
  look, as a share of its cores;
- ``GET /health`` -> ``OK``.

No request has a time limit: a call of 10^10 iterations runs as long as it needs.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil

from heaven.gateway import montecarlo
from heaven.gateway.operations import InvalidInput, Measured, registry

LISTENING = "heaven-gateway-worker listening on"


class CpuMeter:
    """CPU seconds of this process and its children between two looks, as a share of ``cores``."""

    def __init__(self, cores: int) -> None:
        self.cores, self.me = cores, psutil.Process()
        self.lock = threading.Lock()
        self.last = (time.monotonic(), self._cpu_seconds())

    def _cpu_seconds(self) -> float:
        total = sum(self.me.cpu_times()[:2])
        for child in self.me.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.Error:
                pass
        return total

    def percent(self) -> float:
        with self.lock:
            now, used = time.monotonic(), self._cpu_seconds()
            then, before = self.last
            self.last = (now, used)
        return max(0.0, min(100.0, 100 * (used - before) / max(now - then, 1e-6) / self.cores))


class Handler(BaseHTTPRequestHandler):
    server: WorkerServer

    def log_message(self, *_args) -> None:  # the gateway logs the calls; keep the job's log to its start
        pass

    def _answer(self, status: int, body, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(200, "OK", "text/plain")
        elif self.path == "/load":
            self._answer(200, {"cpu_percent": round(self.server.meter.percent(), 1), "cores": self.server.cores,
                               "running": self.server.running})
        else:
            self._answer(404, {"error": "not_found", "message": f"no route {self.path}", "field": None})

    def do_POST(self) -> None:
        if self.path != "/run":
            self._answer(404, {"error": "not_found", "message": f"no route {self.path}", "field": None})
            return
        try:
            call = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            operation = self.server.operations[call["operation"]]
            data = call.get("data") or {}
            operation.size(data)
        except InvalidInput as exc:
            self._answer(400, {"error": "invalid_input", "message": exc.message, "field": exc.field})
            return
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(400, {"error": "invalid_call", "message": f"not a call this worker runs: {exc}",
                               "field": "operation"})
            return
        with self.server.count_lock:
            self.server.running += 1
        began = time.perf_counter()
        try:
            result = operation.run(data, self.server.cores)
        except Exception as exc:  # the operation's own failure, told to the gateway
            self._answer(500, {"error": "operation_failed", "message": f"{call['operation']} failed: {exc}",
                               "field": None})
            return
        finally:
            with self.server.count_lock:
                self.server.running -= 1
        wall = time.perf_counter() - began
        if isinstance(result, Measured):
            result, alone = result.result, result.seconds
        else:
            alone = wall
        self._answer(200, {"result": result, "seconds": alone, "wall_seconds": wall})


class WorkerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], cores: list[int]) -> None:
        super().__init__(address, Handler)
        self.cores, self.operations = cores, registry()
        self.meter = CpuMeter(len(cores))
        self.running, self.count_lock = 0, threading.Lock()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    pool = None
    if len(cores) > 1:  # forkserver: the pool's processes start from a clean process, not this threaded one
        pool = multiprocessing.get_context("forkserver").Pool(len(cores))
        montecarlo.use_pool(pool)
    server = WorkerServer((args.host, args.port), cores)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = server.server_address[:2]
    print(f"{LISTENING} {host}:{port} cores {','.join(map(str, cores))} pid {os.getpid()}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        if pool is not None:
            pool.terminate()


if __name__ == "__main__":
    main()
