"""Stored API tokens: mode 0600 in a 0700 directory, one per controller URL, sent automatically."""
import stat

from heaven.client import credentials
from heaven.client.http import Client


def test_tokens_are_kept_0600_per_url_and_forgotten(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = credentials.save("http://a:8000/", {"token": "hph_a", "token_id": 1})
    credentials.save("http://b:8000", {"token": "hph_b", "token_id": 2})
    assert path == tmp_path / "heaven" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.stored("http://a:8000")["token"] == "hph_a"
    assert credentials.forget("http://a:8000") and not credentials.forget("http://a:8000")
    assert credentials.stored("http://a:8000") is None and credentials.stored("http://b:8000")["token"] == "hph_b"
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]


def test_a_damaged_file_reads_as_logged_out(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "heaven").mkdir()
    (tmp_path / "heaven" / "credentials.json").write_text("{not json")
    assert credentials.stored("http://a:8000") is None


def test_the_client_sends_the_stored_token_unless_given_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    credentials.save("http://a:8000", {"token": "hph_stored"})
    assert Client("http://a:8000/").http.headers["authorization"] == "Bearer hph_stored"
    assert Client("http://a:8000", token="hph_given").http.headers["authorization"] == "Bearer hph_given"
    assert "authorization" not in Client("http://a:8000", use_stored=False).http.headers
    assert "authorization" not in Client("http://other:8000").http.headers
