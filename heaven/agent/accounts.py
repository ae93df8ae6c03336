"""Which local account a job runs as (HEAVEN_RUN_AS), never root unless the operator says so.

Policies:
- "person": the job's owner's local account of the same name (lower-case), as
  Slurm runs a job as the person who submitted it. A person without one, or
  whose name is a privileged account's (root, any uid 0), runs as the
  unprivileged `heaven` account instead.
- "user:NAME": every job as NAME.
- "root": every job with the agent's own identity, whatever it is (the
  operator said so).
- "" (unset): the agent's own identity when it is not root; when it is root,
  the unprivileged `heaven` account (created on first use).
An agent that is not root can only run jobs as itself: asking for another
account is an error at start, with the reason.
"""
from __future__ import annotations

import grp
import logging
import os
import pwd
import subprocess
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

FALLBACK = "heaven"
_create_lock = threading.Lock()


class AccountError(Exception):
    """The job cannot run as the account the policy names; the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def spec(self) -> dict:
        """For the shim: what it sets before exec."""
        return {"uid": self.uid, "gid": self.gid, "groups": list(self.groups)}

    def env(self) -> dict[str, str]:
        return {"USER": self.name, "LOGNAME": self.name, "HOME": self.home}


def check_policy(policy: str) -> str:
    if policy in ("", "person", "root") or (policy.startswith("user:") and len(policy) > 5):
        return policy
    raise ValueError(f"HEAVEN_RUN_AS must be person, user:NAME or root, not {policy!r}")


def _lookup(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = sorted({g.gr_gid for g in grp.getgrall() if name in g.gr_mem} | {entry.pw_gid})
    return Account(name, entry.pw_uid, entry.pw_gid, tuple(groups), entry.pw_dir or "/")


def fallback() -> Account:
    """The unprivileged `heaven` account, created (system account, no login) if missing."""
    with _create_lock:
        found = _lookup(FALLBACK)
        if found is None:
            if os.geteuid() != 0:
                raise AccountError(f"there is no {FALLBACK!r} account and only root can create it")
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--home-dir", "/nonexistent", FALLBACK], check=True, capture_output=True)
            log.info("created the unprivileged %r account for jobs", FALLBACK)
            found = _lookup(FALLBACK)
        return found


def resolve(policy: str, owner: str | None) -> Account | None:
    """The account a job of `owner` runs as; None: the agent's own identity."""
    if policy == "root":
        return None
    if policy.startswith("user:"):
        name = policy[5:]
        account = fallback() if name == FALLBACK else _lookup(name)
        if account is None:
            raise AccountError(f"HEAVEN_RUN_AS names {name!r}, which is no account on this node")
    elif policy == "person":
        account = _lookup(owner.lower()) if owner else None
        if account is None or account.uid == 0:  # never root by a coincidence of names
            account = fallback()
    elif os.geteuid() != 0:
        return None
    else:
        account = fallback()
    if account.uid == os.geteuid():
        return None  # already that account: nothing to change
    if os.geteuid() != 0:
        raise AccountError(f"cannot run jobs as {account.name!r}: the agent is not root")
    return account
