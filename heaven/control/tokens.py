"""The two kinds of bearer token and how each is made and read.

- Access tokens: short-lived JWTs (HS256) from a password login, carrying
  ``sub`` (the person id), ``exp``, ``iat``, ``aud`` and ``jti`` (so logout can
  revoke one before it expires).
- API tokens: ``hph_`` + 32 random bytes, for the CLI and scripts; the store
  keeps only their sha256, and deleting the row revokes them.

Time is read from the injected clock, never from PyJWT's own ``time.time()``,
so expiry is tested without sleeping.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import jwt

API_TOKEN_PREFIX = "hph_"
JOIN_TOKEN_PREFIX = "hpj_"  # an agent joins an organization with it
NODE_CREDENTIAL_PREFIX = "hpn_"  # what a joined agent sends on every later call
AUDIENCE = "heaven"
ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096  # longer headers are refused before any parsing


class InvalidToken(Exception):
    """Why a presented token is not accepted; the message is safe to show the caller."""


@dataclass(frozen=True)
class AccessClaims:
    person_id: int
    jti: str
    expires_at: float


def new_api_token(prefix: str = API_TOKEN_PREFIX) -> tuple[str, str]:
    """(the secret to show once, the hash to store). The prefix says what kind of secret it is,
    so one kind is never accepted where another is expected."""
    secret = prefix + secrets.token_urlsafe(32)
    return secret, hash_api_token(secret)


def hash_api_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_token(token: str) -> bool:
    return token.startswith(API_TOKEN_PREFIX)


class AccessTokens:
    def __init__(self, key: str, ttl_seconds: int, clock: Callable[[], float]) -> None:
        self._key, self.ttl, self._clock = key, ttl_seconds, clock

    def issue(self, person_id: int) -> tuple[str, AccessClaims]:
        now = int(self._clock())
        claims = AccessClaims(person_id, secrets.token_urlsafe(16), now + self.ttl)
        token = jwt.encode({"sub": str(person_id), "iat": now, "exp": now + self.ttl, "aud": AUDIENCE,
                            "jti": claims.jti}, self._key, algorithm=ALGORITHM)
        return token, claims

    def read(self, token: str) -> AccessClaims:
        try:
            # Only HS256 is accepted: "alg": "none" and any other algorithm fail here.
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE,
                                options={"require": ["sub", "exp", "iat", "aud", "jti"], "verify_exp": False,
                                         "verify_iat": False})
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token was issued for another audience") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("the token is malformed or its signature does not match") from None
        try:
            person_id, expires_at, jti = int(claims["sub"]), float(claims["exp"]), str(claims["jti"])
        except (TypeError, ValueError):
            raise InvalidToken("the token's claims are malformed") from None
        if expires_at <= self._clock():
            raise InvalidToken("the token has expired")
        return AccessClaims(person_id, jti, expires_at)
