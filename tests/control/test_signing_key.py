"""The signing key: HEAVEN_SECRET_KEY, else generated once beside the database with mode 0600."""
import stat

import pytest

from heaven.config import ControllerSettings
from heaven.control.signing_key import FILE_NAME, data_dir, load_or_create, signing_key


def test_generated_on_first_start_kept_0600_and_reused(tmp_path):
    settings = ControllerSettings(database_url=f"sqlite:///{tmp_path / 'db' / 'heaven.db'}")
    first = signing_key(settings)
    path = tmp_path / "db" / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 48 and signing_key(settings) == first
    assert not [p for p in path.parent.iterdir() if p.name != FILE_NAME]  # no temporary left behind


def test_the_environment_overrides_and_a_short_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HEAVEN_SECRET_KEY", "k" * 40)
    settings = ControllerSettings(database_url=f"sqlite:///{tmp_path / 'heaven.db'}")
    assert signing_key(settings) == "k" * 40 and not (tmp_path / FILE_NAME).exists()
    monkeypatch.setenv("HEAVEN_SECRET_KEY", "short")
    with pytest.raises(ValueError):
        ControllerSettings()


def test_data_dir_for_postgres_is_the_setting_or_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert data_dir(ControllerSettings(database_url="postgresql://h/db")) == tmp_path
    assert data_dir(ControllerSettings(database_url="postgresql://h/db", data_dir="/srv/heaven")).as_posix() == "/srv/heaven"


def test_a_key_others_can_read_is_made_private_and_an_empty_one_refused(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text("x" * 64)
    path.chmod(0o644)
    assert load_or_create(path) == "x" * 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")
    with pytest.raises(RuntimeError, match="no usable signing key"):
        load_or_create(path)


def test_no_default_secret_exists_in_the_code():
    from heaven.config import ControllerSettings

    assert ControllerSettings.model_fields["secret_key"].default is None
