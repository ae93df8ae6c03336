import pytest

from tests.live import LiveCluster


@pytest.fixture
def live(tmp_path):
    """Start/stop helper: tests start the controller and the agents they need."""
    clusters: list[LiveCluster] = []

    def make(**settings) -> LiveCluster:
        cluster = LiveCluster(tmp_path, **settings)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop()
