"""Settings: node pools (HEAVEN_POOLS) refuse what cannot work, and the controller says
which field and why instead of a traceback."""
import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from heaven.config import ControllerSettings, PoolSpec
from heaven.launch import app


def test_a_pool_takes_the_original_gateways_names():
    spec = PoolSpec.model_validate({"name": "burst", "max_nodes": 4, "INITIAL_WORKERS": 2, "MAX_CPU_THRESHOLD": 90,
                                    "PRESPAWN_THRESHOLD": 60, "SCALE_IN_COOLDOWN": 5})
    assert (spec.initial_workers, spec.max_cpu_threshold, spec.prespawn_threshold, spec.scale_in_cooldown) == \
        (2, 90, 60, 5)


@pytest.mark.parametrize("bad, words", [
    ({"name": "p", "min_nodes": 3, "max_nodes": 2}, "min_nodes 3 is above max_nodes 2"),
    ({"name": "p", "max_nodes": 2, "INITIAL_WORKERS": 3}, "INITIAL_WORKERS 3 is above max_nodes 2"),
    ({"name": "p", "provider": "command", "create": ["/bin/true"]}, "needs both create and delete"),
    ({"name": "P!"}, "should match pattern"),
    ({"name": "p", "MAX_CPU_THRESHOLD": 120}, "less than or equal to 100"),
    ({"name": "p", "colour": "red"}, "Extra inputs are not permitted"),
    ({"name": "p", "provider": "docker", "docker_host": "tcp://10.1.2.3:2375"}, "docker_host\n  String should match"),
    ({"name": "p", "provider": "docker", "image": "--privileged"}, "image\n  String should match"),
])
def test_a_pool_that_cannot_work_is_refused(bad, words):
    with pytest.raises(ValidationError, match=words):
        PoolSpec.model_validate(bad)


def test_two_pools_of_one_name_are_refused():
    with pytest.raises(ValidationError, match="two pools share a name"):
        ControllerSettings(pools=[{"name": "p"}, {"name": "p"}])


@pytest.mark.parametrize("pools, words", [
    ('[{"name": "p", "max_nodes": 0}]', "pools.0.max_nodes: Input should be greater than or equal to 1"),
    ('[{"name": ', 'error parsing value for field "pools"'),
    (json.dumps([{"name": "p", "provider": "nope"}]), "no provider 'nope' (known: command, docker, local)"),
    (json.dumps([{"name": "p", "provider": "docker", "docker_host": "tcp://192.0.2.1:2375"}]),
     "pools.0.docker_host: String should match pattern"),
])
def test_the_controller_names_a_bad_pool_setting(tmp_path, monkeypatch, pools, words):
    monkeypatch.setenv("HEAVEN_POOLS", pools)
    result = CliRunner().invoke(app, ["controller", "--database", f"sqlite:///{tmp_path / 'h.db'}"],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("steps", ["0.5x", "1x", "2x,2x", "3x,2x", "double"])
def test_memory_retry_steps_that_would_not_raise_the_request_are_refused(steps):
    with pytest.raises(ValidationError, match="retry_memory"):
        ControllerSettings(retry_memory=steps)


def test_memory_retry_steps_that_raise_the_request_are_taken():
    assert ControllerSettings(retry_memory="1.5x,4x").retry_memory == "1.5x,4x"


def test_fair_share_settings_become_the_cores_value(monkeypatch):
    from heaven.config import fairshare_weights
    monkeypatch.setenv("HEAVEN_FAIRSHARE", "on")
    monkeypatch.setenv("HEAVEN_FAIRSHARE_WEIGHTS", '{"1/default": 3, "2/gpu": 0.5}')
    settings = ControllerSettings()
    assert settings.fairshare is True and settings.fairshare_half_life == 7 * 24 * 3600
    assert fairshare_weights(settings.fairshare_weights) == (((1, "default"), 3.0), ((2, "gpu"), 0.5))


@pytest.mark.parametrize("weights, words", [('{"default": 1}', "is not ORG_ID/CLUSTER"),
                                            ('{"1/default": 0}', "must be > 0")])
def test_a_bad_fair_share_weight_is_refused_naming_the_setting(weights, words, monkeypatch):
    monkeypatch.setenv("HEAVEN_FAIRSHARE_WEIGHTS", weights)
    with pytest.raises(ValidationError, match="fairshare_weights") as err:
        ControllerSettings()
    assert words in str(err.value)
