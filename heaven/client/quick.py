"""``QuickClient``: the CLI's client. Its plain GETs go over the standard library's http.client
(importing httpx cost a short command like ``heaven jobs`` about 100 ms of its start);
everything else goes through ``Client``'s httpx, made on the first call that needs it.

Same answers and errors as ``Client`` for the GETs it sends itself: the same calls
(``Calls``), replicas tried by the same rule (heaven.client.replicas), the same token
(heaven.client.credentials), timeout, ``ClientError`` and unreachable message. It sends
only to ``http://`` controllers without a proxy in the environment; HTTPS (httpx's
certificate bundle) and proxies stay httpx's.
"""
from __future__ import annotations

import http.client
import json
import os
from functools import cached_property
from typing import Any
from urllib.parse import urlencode, urlsplit

from heaven.client import credentials
from heaven.client.http import Client, _transport, controller_urls, raise_for, unreachable
from heaven.client.replicas import Replicas, not_leader

PROXY_VARIABLES = {"http_proxy", "all_proxy"}  # the ones httpx (trust_env) would send an http:// request through


class Unreached(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Answer:
    """An answer read whole, with the parts of httpx.Response the calls and ``raise_for`` read."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, content: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode(self.headers.get_content_charset() or "utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _query_value(value: Any) -> str:
    """As httpx writes a query value: true/false, "" for None."""
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def query(params: dict | None) -> str:
    """``?a=1&state=x&state=y`` as httpx writes ``params`` (a list: the key once per item)."""
    pairs = [(key, _query_value(item)) for key, value in (params or {}).items()
             for item in (value if isinstance(value, (list, tuple)) else [value])]
    return "?" + urlencode(pairs) if pairs else ""


def plain_http(urls: list[str]) -> list[tuple[str, int | None]] | None:
    """Host and port of each ``http://`` URL without a path, or None when one is anything else."""
    found = []
    for url in urls:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            return None
        found.append((parts.hostname, port))
    return found


class QuickClient(Client):
    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None, use_stored: bool = True) -> None:
        self.url = ",".join(controller_urls(url))
        self.timeout, self._token, self._use_stored = timeout, token, use_stored
        proxied = any(key.lower() in PROXY_VARIABLES and value for key, value in os.environ.items())
        self.addresses = None if proxied else plain_http(self.url.split(","))
        self.replicas = Replicas(self.url.split(","))
        self.headers = {"Accept": "*/*", "User-Agent": "heaven",
                        **credentials.authorization(self.url, token, use_stored)}

    @cached_property
    def http(self):
        """``Client``'s httpx client, made when a call needs it (not a plain GET)."""
        return _transport(False, self.url, self.timeout, self._token, self._use_stored)

    def _response(self, method: str, path: str, **kw) -> Any:
        if method != "GET" or self.addresses is None or set(kw) - {"params"}:
            return super()._response(method, path, **kw)
        target = path + query(kw.get("params"))
        try:
            answer = self.replicas.first_answer(lambda index: self._get(index, target), (Unreached,), _refused)
        except Unreached as exc:
            raise unreachable(self.url, exc.error) from exc.error
        except (OSError, http.client.HTTPException) as exc:  # after connecting: ends the call, as httpx's
            raise unreachable(self.url, exc) from exc
        return raise_for(answer)

    def _get(self, index: int, target: str) -> Answer:
        """GET ``target`` of replica ``index``; a failed connect (refused, timed out, no such host)
        is ``Unreached``: the request never left, the next replica may have it."""
        host, port = self.addresses[index]
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise Unreached(exc) from exc
            connection.request("GET", target, headers=self.headers)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()


def _refused(answer: Answer) -> bool:
    return not_leader(answer.status_code, answer.content)
