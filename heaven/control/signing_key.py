"""The secret that signs access tokens: HEAVEN_SECRET_KEY, or one generated on
first start and kept with mode 0600 in the data directory. No default exists
anywhere: a controller that could run with a known key could be impersonated by
anyone who read this code.
"""
from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from heaven.config import ControllerSettings

log = logging.getLogger("heaven.controller")
FILE_NAME = "secret_key"


def data_dir(settings: ControllerSettings) -> Path:
    """HEAVEN_DATA_DIR, else the directory of the SQLite file, else the working directory."""
    if settings.data_dir:
        return Path(settings.data_dir)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return Path.cwd()


def signing_key(settings: ControllerSettings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return load_or_create(data_dir(settings) / FILE_NAME)


def load_or_create(path: Path) -> str:
    """Read the key, or write a new one. The new file appears whole or not at all (a
    hard link of a finished temporary file), so two controllers starting together on
    one directory agree on one key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)
                log.info("generated a new signing key in %s", path)
            except FileExistsError:
                pass  # another controller won the race: use its key
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # A key others can read is a key others can sign with: take the access away.
        log.warning("%s was readable by others (mode %o); setting it to 0600", path, mode)
        path.chmod(0o600)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable signing key (fewer than 32 characters); remove it to make a new one")
    return key
