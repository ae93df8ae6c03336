"""argon2id password hashes (argon2-cffi's defaults: RFC 9106's low-memory profile).

A login for an unknown username still runs one verification against a throw-away
hash, so the time an answer takes does not tell which usernames exist.
"""
from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id is its default type
_decoy: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global _decoy
    if password_hash is None:
        _decoy = _decoy or _hasher.hash(secrets.token_urlsafe(16))
        password_hash = _decoy  # the hash of a random string nobody knows: never matches
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
