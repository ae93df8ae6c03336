"""Cursor pagination of the list routes (jobs, events, nodes, deployments), as Kubernetes'
``continue``: a page is at most ``limit`` items; when more may follow, the answer carries
an opaque token in the ``X-Continue`` header (and a ``Link: <...>; rel="next"``), and the
caller passes it back as ``?continue=TOKEN`` for the next page.

The body stays a plain JSON array, so readers written before pagination see the same
answer (the first page, of the same default size). The token is a keyset position, not
an offset: base64 of ``{"list": ..., "after": key}``, the sort key of the page's last item
(a job's or deployment's id, newest first; an event's seq; a node's core offset), so
items added meanwhile never shift a page. A token that is not base64 JSON, or one another
list gave, is a 400 naming the field ``continue``.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from heaven.control.errors import ApiError

HEADER = "X-Continue"
ContinueToken = Annotated[str | None, Query(alias="continue", max_length=200,
                                            description="the X-Continue token of the previous page")]
# What the OpenAPI schema says of a list answer's headers (responses={200: PAGED}).
PAGED = {"headers": {HEADER: {"description": "present when more items may follow: pass it back as ?continue=",
                              "schema": {"type": "string"}},
                     "Link": {"description": 'the next page\'s URL, rel="next" (RFC 8288)', "schema": {"type": "string"}}}}


def encode(list_name: str, after: Any) -> str:
    raw = json.dumps({"list": list_name, "after": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(list_name: str, token: str | None, kind: type = int) -> Any:
    """The key the page starts after, or None for the first page."""
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = data["after"]
        valid = data["list"] == list_name and isinstance(after, kind) and not isinstance(after, bool) and after >= 0
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise ApiError(400, "invalid_continue", f"continue: not a token of the {list_name} list (pass back the "
                                                f"{HEADER} header of its previous page)", "continue")
    return after


def mark_next(request: Request, response: Response, list_name: str, items: list, limit: int, key) -> list:
    """Sets the next page's token when the page is full (more may follow); returns ``items``."""
    if len(items) >= limit and items:
        token = encode(list_name, key(items[-1]))
        response.headers[HEADER] = token
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "continue"] + [("continue", token)]
        response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return items
