"""The one error every client call raises: the API's ``{"error", "message", "field"}`` and its
status (0: the controller could not be reached). Apart from the client, so a command that
only needs to catch it does not import httpx."""
from __future__ import annotations


class ClientError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field
