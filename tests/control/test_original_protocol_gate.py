"""The original protocol has no credentials: served on loopback by default, elsewhere only
with HEAVEN_ORIGINAL_PROTOCOL=on (heaven.control.routers.legacy)."""
import pytest

from heaven.config import ControllerSettings
from heaven.control.routers.legacy import is_loopback, served
from heaven.store import nodes

REGISTER = {"vm_name": "vm1", "total_cores": 2}


@pytest.mark.parametrize("host,expected", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                           ("127.1.2.3", True), ("0.0.0.0", False), ("10.0.0.5", False),
                                           ("::", False), ("example.org", False)])
def test_loopback(host, expected):
    assert is_loopback(host) is expected


@pytest.mark.parametrize("host,setting,expected", [("127.0.0.1", "auto", True), ("0.0.0.0", "auto", False),
                                                   ("0.0.0.0", "on", True), ("127.0.0.1", "off", False)])
def test_served(host, setting, expected):
    assert served(ControllerSettings(host=host, original_protocol=setting)) is expected


def test_refused_on_a_non_loopback_address_without_the_setting(controller_app):
    api = controller_app(signed_in=False, host="0.0.0.0")
    for method, path, body in (("POST", "/register", REGISTER), ("POST", "/request", {"vm": "vm1", "job": "j", "pid": 1}),
                               ("POST", "/complete", {"vm": "vm1", "job": "j"}), ("GET", "/summary", None)):
        answer = api.request(method, path, json=body)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == "original_protocol_off"
        assert "HEAVEN_ORIGINAL_PROTOCOL=on" in answer.json()["message"]
    with api.app.state.controller.store.read() as conn:  # the node routes need a person: read the store
        assert nodes.listing(conn) == []  # nothing registered


def test_served_anywhere_with_the_setting_and_without_credentials(controller_app):
    api = controller_app(signed_in=False, host="0.0.0.0", original_protocol="on")
    assert api.post("/register", json=REGISTER).status_code == 200
    assert api.get("/summary").status_code == 200
