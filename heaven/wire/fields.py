"""Bounded field types shared by every schema and route: each limit is defined once here.

Integers: the store's integer columns are SQL ``INTEGER``, 32-bit signed on PostgreSQL
(SQLite holds 64 bits), so anything that reaches one is bounded by ``MAX_INT``. A value
past a column's range would otherwise surface as a driver overflow (a 500) instead of
a 422 that names the field and the limit. Values that never reach a column (long-poll
generations, byte offsets) are bounded by ``MAX_BIGINT``, what a BIGINT holds.

Endpoints: URLs the controller itself calls (job logs on an agent, the original
protocol's ``/allocate`` and ``/status``), so only ``http(s)://host[:port]`` is taken.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import AfterValidator

MAX_INT = 2**31 - 1  # PostgreSQL INTEGER: the narrowest integer column of the store
MAX_BIGINT = 2**63 - 1  # PostgreSQL BIGINT, SQLite INTEGER
MAX_CORES = 4096  # cores one job or one node may have
MAX_MB = MAX_INT
# The deployment service's RAM figures (total_ram, available_ram, required_ram) are whole GB.
ROOT_RAM_MB = 1024
MAX_ROOT_RAM_GB = MAX_MB // ROOT_RAM_MB
MAX_CPU = 8191  # highest kernel CPU number: Linux NR_CPUS is at most 8192
MAX_OFFSET = 10**7  # a node's first global core
# Memory retry steps, as HTCondor's retry_request_memory: factors of the original request.
RETRY_MEMORY_PATTERN = r"^(\d+(\.\d+)?x(,\d+(\.\d+)?x)*)?$"
MAX_PID = 2**22  # PID_MAX_LIMIT on 64-bit Linux
MAX_NAME = 100  # node and cluster names: String(100) columns

Id = Annotated[int, Ge(1), Le(MAX_INT)]  # a job id (rows start at 1)
Seq = Annotated[int, Ge(0), Le(MAX_INT)]  # an event sequence number; 0: before the first
Run = Annotated[int, Ge(0), Le(MAX_INT)]  # attempt number of a job
Pid = Annotated[int, Ge(1), Le(MAX_PID)]
ExitCode = Annotated[int, Ge(-255), Le(255)]  # an exit status, or minus the signal that killed it
Cpu = Annotated[int, Ge(0), Le(MAX_CPU)]  # a kernel CPU number on one machine
GlobalCore = Annotated[int, Ge(0), Le(MAX_OFFSET + MAX_CORES)]  # a core in the cluster-wide map
CoreOffset = Annotated[int, Ge(0), Le(MAX_OFFSET)]
Generation = Annotated[int, Ge(-1), Le(MAX_BIGINT)]  # -1: none seen yet
ByteOffset = Annotated[int, Ge(0), Le(MAX_BIGINT)]
Name = Annotated[str, MinLen(1), MaxLen(MAX_NAME)]

_HOST_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
ENDPOINT_FORM = "http://host:port or https://host:port"


def check_endpoint(value: str) -> str:
    """``http(s)://host[:port]``, returned without a trailing slash (callers append paths);
    anything else raises ValueError with the reason."""
    url = value.strip().removesuffix("/")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError:
        raise ValueError(f"must look like {ENDPOINT_FORM}, with a port in 1..65535") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must look like {ENDPOINT_FORM}")
    if parts.path or parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"must be {ENDPOINT_FORM} without a path, query or fragment")
    if parts.username is not None or parts.password is not None or port == 0:
        raise ValueError(f"must be {ENDPOINT_FORM} without credentials, with a port in 1..65535")
    if not _valid_host(parts.hostname or "", bracketed=parts.netloc.startswith("[")):
        raise ValueError(f"must look like {ENDPOINT_FORM}: {parts.hostname!r} is not a host name or IP address")
    return url


def _valid_host(host: str, bracketed: bool) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return not bracketed and _HOST_NAME.match(host) is not None and not host.replace(".", "").isdigit()
    return address.version == (6 if bracketed else 4)


def _endpoint_or_empty(value: str) -> str:
    return value if value == "" else check_endpoint(value)


# "" means the node has no API of its own (the controller then calls nothing on it).
Endpoint = Annotated[str, MaxLen(300), AfterValidator(_endpoint_or_empty)]


def retry_memory_factors(steps: str) -> list[float]:
    """The factors of memory retry steps such as ``2x,4x`` ("" is none). Each step must raise
    the request past the one before: a retry at the memory that was just exceeded, or at less,
    would only be killed again."""
    if not re.fullmatch(RETRY_MEMORY_PATTERN, steps):
        raise ValueError(f"must be factors of the memory request such as 2x,4x (got {steps!r})")
    factors = [float(f.rstrip("x")) for f in steps.split(",") if f]
    for before, factor in zip([1.0, *factors], factors):
        if factor <= before:
            raise ValueError(f"each step must be above 1x and above the step before it, such as 2x,4x "
                             f"(got {factor:g}x after {before:g}x in {steps!r})")
    return factors
