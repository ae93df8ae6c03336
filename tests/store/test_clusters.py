"""What a cluster holds (``clusters.booked``), on SQLite and PostgreSQL: placed jobs on
its own organization's nodes, plus started services no node runs yet; held services,
other organizations' clusters of the same name and finished jobs count for nothing."""
from sqlalchemy import insert, update

from heaven.core.states import JobState
from heaven.store import clusters, jobs, nodes, organizations, people
from heaven.store.engine import default_org_id
from heaven.store.tables import core_claims
from heaven.store.tables import jobs as jobs_table


def _job(conn, org_id, **values):
    return jobs.insert_job(conn, {"org_id": org_id, "name": "j", "kind": "batch", "command": ["true"], "cores": 2,
                                  "min_cores": 1, "storage_mb": 0, "priority": 0,
                                  "memory_mb": 100, "gpus": 0, "cluster": "gpu", **values}, 1.0)


def test_booked_counts_placed_jobs_and_started_services(engine):
    with engine.begin() as conn:
        mine = default_org_id(conn)
        owner = people.add(conn, "olga", "o@example.org", "x", 1.0)
        theirs = organizations.create(conn, "theirs", owner, 1.0, "olga")
        for org_id, name, offset in ((mine, "m1", 0), (theirs, "t1", 4)):
            conn.execute(insert(clusters.clusters).values(org_id=org_id, name="gpu"))
            nodes.register(conn, {"name": name, "org_id": org_id, "cluster": "gpu", "core_offset": offset,
                                  "local_cores": [0, 1, 2, 3], "memory_mb": 1000, "gpus": 1}, 1.0, "test")
        placed = _job(conn, mine, gpus=1)
        conn.execute(update(jobs_table).where(jobs_table.c.id == placed).values(state="running", node="m1"))
        conn.execute(insert(core_claims), [{"core": 0, "job_id": placed, "node": "m1"},
                                           {"core": 1, "job_id": placed, "node": "m1"}])
        _job(conn, mine, kind="service", cores=3, memory_mb=300)  # started, waiting for a node
        _job(conn, mine, kind="service", held=True)  # created, not started
        _job(conn, mine)  # a pending batch job books nothing
        other = _job(conn, theirs, cores=1)
        conn.execute(update(jobs_table).where(jobs_table.c.id == other).values(state="running", node="t1"))
        conn.execute(insert(core_claims).values(core=4, job_id=other, node="t1"))
        assert clusters.booked(conn, mine, "gpu") == clusters.Booked(cores=5, memory_mb=400, gpus=1)
        assert clusters.booked(conn, theirs, "gpu") == clusters.Booked(cores=1, memory_mb=100, gpus=0)
        assert clusters.get(conn, theirs, "gpu")["org_id"] == theirs and clusters.get(conn, theirs, "cpu") is None


def test_a_cluster_in_use_lists_what_keeps_it_and_goes_with_its_join_tokens(engine):
    from heaven.store import join_tokens

    with engine.begin() as conn:
        org = default_org_id(conn)
        cluster_id = clusters.create(conn, org, "gpu", {"quota_cores": 2}, None, 1.0, "test")
        row = clusters.by_id(conn, cluster_id)
        assert clusters.holdings(conn, row) == {} and clusters.exists(conn, org, "gpu")
        job = _job(conn, org)
        assert clusters.holdings(conn, row) == {"active jobs": 1}
        jobs.transition(conn, job, JobState.PENDING, JobState.CANCELLED, 2.0, actor="test")
        assert clusters.holdings(conn, row) == {}  # an ended job no longer holds it
        join_tokens.add(conn, org, "rack", "h" * 64, 1.0, "test", cluster="gpu")
        join_tokens.add(conn, org, "other", "i" * 64, 1.0, "test")
        clusters.delete_cluster(conn, row, 3.0, "test")
        assert clusters.by_id(conn, cluster_id) is None and not clusters.exists(conn, org, "gpu")
        assert [t["name"] for t in join_tokens.of_org(conn, org)] == ["other"]


def test_a_node_joining_makes_its_cluster_and_available_never_goes_below_zero(engine):
    with engine.begin() as conn:
        org = default_org_id(conn)
        nodes.register(conn, {"name": "n", "org_id": org, "cluster": "lab", "core_offset": 0, "local_cores": [0]},
                       1.0, "test")
        assert clusters.exists(conn, org, "lab") and clusters.get(conn, org, "lab") is None  # a node names it
        clusters.ensure(conn, org, "lab", 1.0)
        clusters.ensure(conn, org, "lab", 2.0)  # idempotent
        row = clusters.get(conn, org, "lab")
        assert (row["quota_cores"], row["created_at"]) == (None, 1.0)
        clusters.update_cluster(conn, row["id"], {"quota_cores": 1, "quota_gpus": 0}, 3.0, "test")
        row = clusters.by_id(conn, row["id"])
        assert clusters.available(row, clusters.Booked(cores=3, memory_mb=5, gpus=0)) == {
            "cores": 0, "memory_mb": None, "gpus": 0}


def test_a_gang_books_its_memory_and_gpus_on_each_of_its_nodes(engine):
    with engine.begin() as conn:
        mine = default_org_id(conn)
        conn.execute(insert(clusters.clusters).values(org_id=mine, name="gpu"))
        for name, offset in (("g1", 0), ("g2", 4)):
            nodes.register(conn, {"name": name, "org_id": mine, "cluster": "gpu", "core_offset": offset,
                                  "local_cores": [0, 1, 2, 3], "memory_mb": 1000, "gpus": 1}, 1.0, "test")
        gang = _job(conn, mine, cores=1, gpus=1, nodes=2)
        conn.execute(update(jobs_table).where(jobs_table.c.id == gang).values(state="running", node="g1"))
        conn.execute(insert(core_claims), [{"core": 0, "job_id": gang, "node": "g1"},
                                           {"core": 4, "job_id": gang, "node": "g2"}])
        assert clusters.booked(conn, mine, "gpu") == clusters.Booked(cores=2, memory_mb=200, gpus=2)
