"""Where ``heaven login`` keeps API tokens: ``$XDG_CONFIG_HOME/heaven/credentials.json``
(``~/.config/heaven/credentials.json`` without it), one entry per controller URL,
written with mode 0600 in a 0700 directory, whole or not at all.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "heaven" / "credentials.json"


def _key(url: str) -> str:
    """Replicas ``URL1,URL2`` share one entry, whatever the spacing or trailing slashes."""
    return ",".join(u.strip().rstrip("/") for u in url.split(",") if u.strip())


def load_all() -> dict[str, dict]:
    try:
        data = json.loads(path().read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stored(url: str) -> dict | None:
    """``{"token", "token_id", "username", "name"}`` for this controller, if logged in."""
    entry = load_all().get(_key(url))
    return entry if isinstance(entry, dict) and isinstance(entry.get("token"), str) else None


def authorization(url: str, token: str | None, use_stored: bool = True) -> dict[str, str]:
    """The header every client sends: ``token``, or (without one) the token stored for ``url``."""
    if token is None and use_stored:
        token = (stored(url) or {}).get("token")
    return {"Authorization": f"Bearer {token}"} if token else {}


def save(url: str, entry: dict) -> Path:
    data = load_all()
    data[_key(url)] = entry
    _write(data)
    return path()


def forget(url: str) -> bool:
    data = load_all()
    if data.pop(_key(url), None) is None:
        return False
    _write(data)
    return True


def _write(data: dict) -> None:
    target = path()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created 0600 from the first byte (never chmod-ed after being written), then renamed over.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
