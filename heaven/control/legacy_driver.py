"""Drives nodes of the original design through their own agent protocol.

Their agents do not long-poll: the controller pushes ``POST /allocate`` when a
job is placed and ``POST /release`` when it ends, and polls ``GET /status``
for usage (a successful poll counts as a heartbeat). Cores travel as global
indices, as that protocol defines them.
"""
from __future__ import annotations

import asyncio
import logging

import httpx
from sqlalchemy import bindparam, select, update

from heaven.control.runtime import Controller
from heaven.core.states import JobState
from heaven.store import nodes
from heaven.store.apply import Applied
from heaven.store.tables import jobs as job_table

log = logging.getLogger("heaven.legacy")


class LegacyDriver:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.client = httpx.AsyncClient(timeout=ctl.settings.legacy_timeout)
        self._loop: asyncio.AbstractEventLoop | None = None
        # Node name -> kind, as last read: placements on the project's own agents (nearly
        # all of them) cost no database read here; an unknown node triggers one.
        self._kinds: dict[str, str] = {}
        ctl.on_placed.append(self.placed)

    def _legacy_nodes(self) -> dict[str, dict]:
        with self.ctl.store.begin() as conn:
            listed = nodes.listing(conn)
        self._kinds = {n["name"]: n["kind"] for n in listed}
        return {n["name"]: n for n in listed if n["kind"] == "legacy" and n["endpoint"]}

    def placed(self, applied: Applied) -> None:
        """Called after a committed cycle, from any thread (the event loop's included):
        hands placements on nodes of the original design to a worker thread."""
        if self._loop is None or all(self._kinds.get(p.node) == "heaven" for p in applied.placed):
            return
        placements = list(applied.placed)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(asyncio.to_thread(self._allocate, placements)))

    def _allocate(self, placements: list) -> None:
        legacy = self._legacy_nodes()
        mine = [p for p in placements if p.node in legacy]
        if not mine:
            return
        with self.ctl.store.begin() as conn:
            rows = {r.id: r for r in conn.execute(select(job_table).where(job_table.c.id.in_([p.job_id for p in mine])))}
        for p in mine:
            body = {"job": rows[p.job_id].name, "pid": rows[p.job_id].pid, "cores": list(p.cores)}
            self._send(legacy[p.node]["endpoint"] + "/allocate", body)

    def released(self, node: dict, job_name: str) -> None:
        if node["kind"] == "legacy" and node["endpoint"]:
            self._send(node["endpoint"] + "/release", {"job": job_name, "keep_cores": []})

    def _send(self, url: str, body: dict) -> None:
        async def post():
            try:
                await self.client.post(url, json=body)
            except httpx.HTTPError as exc:  # level-triggered: the next status poll shows the truth
                log.warning("%s failed: %s", url, exc)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(post()))

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            for name, node in (await asyncio.to_thread(self._legacy_nodes)).items():
                try:
                    status = (await self.client.get(node["endpoint"] + "/status")).json()
                except (httpx.HTTPError, ValueError):
                    continue
                await asyncio.to_thread(self._record_status, name, status)

    def _record_status(self, name: str, status: dict) -> None:
        rows = [{"n": j.get("job"), "cpu": float(j.get("cpu_percent") or 0.0)} for j in status.get("jobs", []) if isinstance(j, dict)]
        with self.ctl.store.begin() as conn:
            nodes.heartbeat(conn, name, self.ctl.clock(), actor=f"agent:{name}")
            if rows:
                conn.execute(update(job_table).where(job_table.c.node == name, job_table.c.name == bindparam("n"),
                                                     job_table.c.state == JobState.RUNNING.value)
                             .values(cpu_percent=bindparam("cpu")), rows)

    async def close(self) -> None:
        await self.client.aclose()
