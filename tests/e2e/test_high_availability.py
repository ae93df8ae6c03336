"""Three controller replicas on one real PostgreSQL, a real agent following all of them.

The scheduler interval is a minute, longer than the agents' 25 s long-poll: a job
placed within seconds shows that the follower's submission woke the leader and the
leader's placement woke the agent held on a follower (LISTEN/NOTIFY), not a timer.
"""
import collections

import httpx
import pytest

from heaven.client.http import Client, ClientError
from tests.live import LiveCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
NOTICE = 15  # seconds: well under the interval and the long-poll, so only a notice explains it


def _health(url: str) -> dict | None:
    try:
        return httpx.get(f"{url}/health", timeout=3).json()
    except httpx.HTTPError:
        return None


def _leaders(urls) -> dict[str, int]:
    return {u: h["epoch"] for u in urls if (h := _health(u)) and h["leader"]}


def test_leader_killed_a_follower_takes_over_and_no_job_is_placed_twice(tmp_path, postgres_server):
    cluster = LiveCluster(tmp_path, database_url=postgres_server.new_database(), data_dir=str(tmp_path),
                          scheduler_interval=60, max_body_bytes=1024 * 1024)
    try:
        urls = [cluster.start_replica() for _ in range(3)]
        leader, epoch = wait_for(lambda: (found := _leaders(urls)) and len(found) == 1 and next(iter(found.items())),
                                 20, what="one leader")
        followers = [u for u in urls if u != leader]
        # The agent follows a follower first: its long-poll is held where no cycle runs.
        cluster.start_agent("n1", "0-1", controller=",".join(followers + [leader]),
                            until=lambda: Client(followers[0], token=cluster.token).nodes())
        on_follower = Client(followers[0], token=cluster.token)
        first = on_follower.submit(command=["sleep", "0.5"], cores=1)
        wait_for(lambda: on_follower.job(first["id"])["state"] == "succeeded", NOTICE,
                 what="a job submitted on a follower to run and end")
        # The follower's event log shows what the leader and the agent wrote.
        assert {"assign", "start", "succeed"} <= {e["action"] for e in on_follower.events(job=first["id"])}
        # Only the leader answers at once; a client naming both gets there.
        with pytest.raises(ClientError) as refused:
            on_follower.submit(command=["true"], cores=1, no_wait=True)
        assert refused.value.status == 503 and refused.value.error == "not_leader" and leader in refused.value.message
        assert Client(f"{followers[0]},{leader}", token=cluster.token).submit(
            command=["true"], cores=1, no_wait=True)["state"] in ("assigned", "running", "succeeded")

        everywhere = Client(",".join(urls), token=cluster.token)
        queued = [everywhere.submit(command=["sleep", "1"], cores=1)["id"] for _ in range(6)]
        wait_for(lambda: any(everywhere.job(j)["state"] == "running" for j in queued), NOTICE, what="a job running")
        cluster.kill_replica(leader)
        survivors = followers
        new_leader, new_epoch = wait_for(lambda: (found := _leaders(survivors)) and next(iter(found.items())),
                                         20, what="a follower to take over")
        assert new_epoch > epoch and len(_leaders(survivors)) == 1
        queued.append(everywhere.submit(command=["true"], cores=1)["id"])  # fails over past the dead one
        for job_id in queued:
            wait_for(lambda: everywhere.job(job_id)["state"] == "succeeded", 60, what=f"job {job_id} to succeed")
        assigned = collections.Counter(e["job"] for e in cluster.every_event() if e["action"] == "assign")
        assert {j: assigned[j] for j in queued} == {j: 1 for j in queued}  # none placed twice
        assert all(everywhere.job(j)["runs"] == 1 for j in queued)
    finally:
        cluster.stop()


def test_a_token_revoked_on_one_replica_is_refused_by_another_at_once(tmp_path, postgres_server):
    """Each replica remembers callers for HEAVEN_AUTH_CACHE_SECONDS (here 300 s). The revocation
    is a write on replica A; replica B, which has the token remembered, must refuse it within
    the time a notice takes, not after its entry expires."""
    cluster = LiveCluster(tmp_path, database_url=postgres_server.new_database(), data_dir=str(tmp_path),
                          auth_cache_seconds=300)
    try:
        a, b = cluster.start_replica(), cluster.start_replica()
        assert httpx.post(f"{a}/api/v1/auth/register", json={"username": "bob", "email": "bob@example.org",
                                                             "password": "correct horse battery"}).status_code == 201
        login = httpx.post(f"{a}/api/v1/auth/token", data={"username": "bob", "password": "correct horse battery"})
        session = {"Authorization": f"Bearer {login.json()['access_token']}"}
        made = httpx.post(f"{a}/api/v1/auth/tokens", json={"name": "script"}, headers=session).json()
        script = {"Authorization": f"Bearer {made['token']}"}
        for _ in range(3):  # B now remembers whose token it is
            assert httpx.get(f"{b}/api/v1/auth/me", headers=script).status_code == 200
        assert httpx.delete(f"{a}/api/v1/auth/tokens/{made['id']}", headers=session).status_code == 204
        wait_for(lambda: httpx.get(f"{b}/api/v1/auth/me", headers=script).status_code == 401, 10,
                 what="replica B to refuse the token revoked on replica A")
        assert httpx.get(f"{a}/api/v1/auth/me", headers=script).status_code == 401
    finally:
        cluster.stop()
