"""What the accounting report reads: the jobs of some organizations that may have held
cores in a period, their events, and the names of their organizations and owners."""
from __future__ import annotations

from sqlalchemy import Connection, or_, select

from heaven.store.tables import events, jobs, organizations, people

JOB_COLUMNS = (jobs.c.id, jobs.c.name, jobs.c.org_id, jobs.c.owner_id, jobs.c.state, jobs.c.cores, jobs.c.nodes,
               jobs.c.memory_mb)


def history(conn: Connection, org_ids: list[int], since: float, until: float) -> tuple[list[dict], dict[int, list[dict]]]:
    """(job rows, their events before ``until`` by job in sequence order): the jobs of
    ``org_ids`` submitted before ``until`` that had not finished before ``since``."""
    if not org_ids:
        return [], {}
    of_period = select(jobs.c.id).where(jobs.c.org_id.in_(org_ids), jobs.c.submitted_at < until,
                                        or_(jobs.c.finished_at.is_(None), jobs.c.finished_at >= since))
    rows = [dict(r._mapping) for r in conn.execute(select(*JOB_COLUMNS).where(jobs.c.id.in_(of_period))
                                                   .order_by(jobs.c.id))]
    by_job: dict[int, list[dict]] = {r["id"]: [] for r in rows}
    query = (select(events.c.job, events.c.ts, events.c.action, events.c.detail)
             .where(events.c.job.in_(of_period), events.c.ts < until).order_by(events.c.seq))
    for job, ts, action, detail in conn.execute(query):
        by_job[job].append({"ts": ts, "action": action, "detail": detail})
    return rows, by_job


def names(conn: Connection, org_ids: list[int], person_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    """(organization names, usernames) by id."""
    orgs = dict(conn.execute(select(organizations.c.id, organizations.c.name).where(organizations.c.id.in_(org_ids))).all())
    users = dict(conn.execute(select(people.c.id, people.c.username).where(people.c.id.in_(person_ids))).all()) \
        if person_ids else {}
    return orgs, users
