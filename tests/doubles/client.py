"""A plain HTTP client for the doubles' tests: one request per connection, nothing hidden.

It never follows a redirect unless asked, sends only the headers given, and
lets socket errors (refused, timed out) surface as they are.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any, Dict, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

TIMEOUT = 2.0
REDIRECTS = (301, 302, 303, 307, 308)


class Reply(NamedTuple):
    """What a client sees: status, reason phrase, headers (case-insensitive) and the body as text."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Optional[Dict[str, str]] = None,
    auth: Optional[Tuple[str, str]] = None,
    timeout: float = TIMEOUT,
    follow_redirects: bool = False,
) -> Reply:
    """One request; with ``follow_redirects``, at most one redirect is followed with the same method."""
    sent = dict(headers or {})
    if auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target or "/", headers=sent)
        response = connection.getresponse()
        reply = Reply(response.status, response.reason, response.headers, response.read().decode("utf-8"))
    finally:
        connection.close()
    if follow_redirects and reply.status in REDIRECTS:
        return fetch(reply.headers["Location"], method=method, headers=headers, auth=auth, timeout=timeout)
    return reply
