"""The shared bounds and the endpoint rule, as every schema that uses them sees them."""
import pytest
from pydantic import ValidationError

from heaven.wire.agent import AgentRegister, AgentReport
from heaven.wire.fields import MAX_INT, check_endpoint
from heaven.wire.legacy import LegacyRegister

GOOD = [
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("https://node-7.example.org", "https://node-7.example.org"),
    ("http://[::1]:9000", "http://[::1]:9000"),
    ("http://localhost:80/", "http://localhost:80"),  # a trailing slash would double in endpoint + "/allocate"
]
BAD = ["0", "127.0.0.1:8001", "localhost", "ftp://h:21", "http://", "http://:80", "http://h:0", "http://h:99999",
       "http://h:port", "http://h:1/x", "http://h:1?x=1", "http://h:1#f", "http://u:p@h:1", "http://0",
       "http://1.2.3", "http://bad_host:1", "http://h h:1", "http://[::1", "http://::1:80", "http://[1.2.3.4]:1",
       "javascript:alert(1)"]


@pytest.mark.parametrize("given,stored", GOOD)
def test_endpoints_that_name_a_host_are_taken_without_a_trailing_slash(given, stored):
    assert check_endpoint(given) == stored
    assert AgentRegister(name="n", endpoint=given, local_cores=[0]).endpoint == stored
    assert LegacyRegister(vm_name="vm", endpoint=given, total_cores=1).endpoint == stored


@pytest.mark.parametrize("endpoint", BAD)
def test_endpoints_the_controller_could_not_call_are_refused(endpoint):
    with pytest.raises(ValueError, match="http://host:port"):
        check_endpoint(endpoint)
    with pytest.raises(ValidationError, match="endpoint"):
        AgentRegister(name="n", endpoint=endpoint, local_cores=[0])
    with pytest.raises(ValidationError, match="endpoint"):
        LegacyRegister(vm_name="vm", endpoint=endpoint, total_cores=1)


def test_no_endpoint_stays_allowed_where_it_means_none():
    assert AgentRegister(name="n", local_cores=[0]).endpoint == ""
    assert AgentRegister(name="n", endpoint="", local_cores=[0]).endpoint == ""
    assert LegacyRegister(vm_name="vm", total_cores=1).endpoint is None
    assert LegacyRegister(vm_name="vm", endpoint="", total_cores=1).endpoint == ""


def test_ids_stop_at_what_an_integer_column_holds():
    AgentReport(exits=[{"job": MAX_INT, "run": 0, "exit_code": -9}])
    with pytest.raises(ValidationError, match=str(MAX_INT)):
        AgentReport(exits=[{"job": MAX_INT + 1, "run": 0, "exit_code": 0}])
    with pytest.raises(ValidationError, match="finite"):
        AgentReport(jobs={1: {"cpu_percent": float("inf"), "rss_mb": 1}})
