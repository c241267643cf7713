"""Server plumbing shared by the HTTP test doubles (Livy, YARN Timeline).

A double subclasses :class:`HttpDouble` and implements :meth:`HttpDouble._handle`.
The base class serves it on a free loopback port in a daemon thread and gives
every double the same test hooks:

* lifecycle: :meth:`~HttpDouble.start`, :meth:`~HttpDouble.stop` (connections
  refused), :meth:`~HttpDouble.start` again on the same port;
* instrumentation: :attr:`~HttpDouble.requests` (the same
  :class:`~zkjanitor.testing.yarn_double.RecordedRequest` records the YARN
  double keeps), :meth:`~HttpDouble.request_counts`, :meth:`~HttpDouble.count`;
* faults: :meth:`~HttpDouble.fail_next` and :attr:`~HttpDouble.delay_seconds`;
* authentication through a pluggable :class:`Authenticator`:
  :class:`BasicAuth` (an LDAP-backed Livy, a Knox or HDInsight gateway) and
  :class:`SimpleAuth` (Hadoop's ``?user.name=`` pseudo auth) are here; a
  SPNEGO authenticator only has to implement the same one method.

The request record, the failure record and the error type are the YARN
double's (imported, not copied). The YARN double's own server, handler and
hooks predate this module and could be rebased on it.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, TypeVar, Union
from urllib.parse import parse_qs, urlsplit

# The error a double raises to end a request early: status, a body (dict -> JSON, str -> text)
# and extra response headers. Public under this name for authenticators written elsewhere.
LOOPBACK = "127.0.0.1"


class RecordedRequest(NamedTuple):
    """One request as the double received it.

    ``query`` maps each parameter to its value; a repeated parameter's values
    are joined with commas (the RM treats both spellings alike).
    """

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]


class _Failure(NamedTuple):
    status: int
    path: Optional[str]
    body: Optional[str]


class _HttpError(Exception):
    """Ends a request with ``status``; ``body`` is JSON (a dict) or text."""

    def __init__(self, status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


HttpError = _HttpError

__all__ = [
    "LOOPBACK",
    "Authenticated",
    "Authenticator",
    "BasicAuth",
    "HttpDouble",
    "HttpError",
    "RecordedRequest",
    "Reply",
    "Request",
    "SimpleAuth",
    "header",
]

# A request body larger than this is refused (no test needs one; a bound keeps reads finite).
MAX_BODY_BYTES = 1 << 20
JOIN_TIMEOUT_SECONDS = 5.0


class Request(NamedTuple):
    """One request as a double's :meth:`HttpDouble._handle` sees it.

    ``path`` has no query and no trailing slash; ``raw_path`` is the request
    target as sent (path and query); ``query`` keeps every value of a repeated
    parameter; ``user`` is who the authenticator said made the request (None:
    anonymous).
    """

    method: str
    path: str
    raw_path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: bytes
    user: Optional[str]


class Reply(NamedTuple):
    """What a double answers: a dict or list is sent as JSON, a str as text, bytes as they are.

    ``content_type`` overrides the double's default for this body type;
    ``reason`` overrides the HTTP reason phrase (Jetty puts ``sendError``
    messages there).
    """

    status: int
    body: Any = None
    headers: Mapping[str, str] = {}
    content_type: Optional[str] = None
    reason: Optional[str] = None


class Authenticated(NamedTuple):
    """A successful authentication: the remote user (None: anonymous) and headers to add to the reply."""

    user: Optional[str]
    headers: Mapping[str, str] = {}


class Authenticator:
    """Decides who made a request, or refuses it by raising :data:`HttpError` (401/403 + challenge).

    Subclass and implement :meth:`authenticate`; this is the seam for SPNEGO
    (answer ``401`` with ``WWW-Authenticate: Negotiate``, accept a token,
    return the principal's short name with the mutual-auth header).
    """

    def authenticate(self, query: Mapping[str, List[str]], headers: Mapping[str, str]) -> Authenticated:
        raise NotImplementedError


class BasicAuth(Authenticator):
    """HTTP basic auth against fixed credentials.

    ``credentials`` is one ``(user, password)`` pair or a mapping of user to
    password. A missing, malformed or wrong ``Authorization`` header gets 401
    with ``WWW-Authenticate: <challenge>`` and ``body``.
    """

    def __init__(
        self,
        credentials: Union[Tuple[str, str], Mapping[str, str]],
        *,
        challenge: str = "Basic",
        body: Any = "Authentication required",
    ) -> None:
        if isinstance(credentials, tuple):
            self.credentials: Dict[str, str] = {credentials[0]: credentials[1]}
        else:
            self.credentials = dict(credentials)
        self.challenge = challenge
        self.body = body

    def authenticate(self, query: Mapping[str, List[str]], headers: Mapping[str, str]) -> Authenticated:
        user = self._user(header(headers, "Authorization") or "")
        if user is None:
            raise HttpError(401, self.body, {"WWW-Authenticate": self.challenge})
        return Authenticated(user)

    def _user(self, authorization: str) -> Optional[str]:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, separator, password = decoded.partition(":")
        if not separator or self.credentials.get(user) != password:
            return None
        return user


class SimpleAuth(Authenticator):
    """Hadoop's pseudo auth (``PseudoAuthenticationHandler``): the user is ``?user.name=``.

    With ``anonymous_allowed`` false a request without it gets 403 with
    ``WWW-Authenticate: PseudoAuth``, as the YARN double's ``user_name_required``.
    """

    def __init__(self, *, anonymous_allowed: bool = True) -> None:
        self.anonymous_allowed = anonymous_allowed

    def authenticate(self, query: Mapping[str, List[str]], headers: Mapping[str, str]) -> Authenticated:
        user = (query.get("user.name") or [""])[0]
        if user:
            return Authenticated(user)
        if self.anonymous_allowed:
            return Authenticated(None)
        raise HttpError(403, "Authentication required", {"WWW-Authenticate": "PseudoAuth"})


def header(headers: Mapping[str, str], name: str) -> Optional[str]:
    """The value of header ``name`` in ``headers``, whatever its case (None when absent)."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


class _Server(ThreadingHTTPServer):
    """The HTTP server; knows its double and stays silent about client disconnects."""

    daemon_threads = True

    def __init__(self, address: Tuple[str, int], double: "HttpDouble") -> None:
        self.double = double
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are part of the tests; never print."""


class _Handler(BaseHTTPRequestHandler):
    """Hands every request, whatever its method, to the double."""

    server: _Server

    def version_string(self) -> str:
        return self.server.double.server_header

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request log on stderr."""

    def _dispatch(self) -> None:
        double = self.server.double
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._send(Reply(400, "bad Content-Length"), double)
            return
        body = self.rfile.read(length) if length else b""
        try:
            reply = double._serve(self.command, self.path, dict(self.headers.items()), body)
        except Exception as exc:  # a bug in the double must not hang the client
            reply = Reply(500, f"{type(double).__name__} error: {exc!r}")
        self._send(reply, double)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _send(self, reply: Reply, double: "HttpDouble") -> None:
        body = reply.body
        if isinstance(body, (dict, list)):
            payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
            content_type = reply.content_type or double.json_content_type
        elif isinstance(body, bytes):
            payload = body
            content_type = reply.content_type or "application/octet-stream"
        elif body is None or body == "":
            payload = b""
            content_type = reply.content_type or double.json_content_type
        else:
            payload = f"{body}\n".encode()
            content_type = reply.content_type or "text/plain;charset=utf-8"
        self.send_response(reply.status, reply.reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


_Double = TypeVar("_Double", bound="HttpDouble")


class HttpDouble:
    """Base of the HTTP doubles: a server on ``http://127.0.0.1:<free port>`` and the test hooks.

    ``authenticator`` (None: no authentication, every request anonymous) runs
    for every request a subclass does not exempt (see :meth:`_exempt_from_auth`).
    """

    #: The ``Server`` response header.
    server_header = "Jetty"
    #: Content type of JSON bodies (and of empty ones).
    json_content_type = "application/json;charset=utf-8"

    def __init__(self, *, authenticator: Optional[Authenticator] = None) -> None:
        self.authenticator = authenticator
        #: Seconds every request waits before it is answered (slow server, client timeouts).
        self.delay_seconds = 0.0
        #: A gateway's path in front of the API (Knox: ``/gateway/<topology>/livy/v1``): part of :attr:`url`;
        #: a request outside it gets 404, as from a gateway that routes nothing there.
        self.gateway_prefix = ""
        self._lock = threading.RLock()
        self._requests: List[RecordedRequest] = []
        self._failures: List[Tuple[_Failure, Optional[str]]] = []
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._port: Optional[int] = None

    # ------------------------------------------------------------------ lifecycle

    def start(self: _Double) -> _Double:
        """Serve on 127.0.0.1 (a free port the first time, the same port after a stop)."""
        if self._server is not None:
            return self
        self._server = _Server((LOOPBACK, self._port or 0), self)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: connections to :attr:`url` are refused until :meth:`start`."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=JOIN_TIMEOUT_SECONDS)

    @property
    def running(self) -> bool:
        """Whether the double is serving."""
        return self._server is not None

    def __enter__(self: _Double) -> _Double:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT`` (fixed once started)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return f"http://{LOOPBACK}:{self._port}{self.gateway_prefix}"

    # ------------------------------------------------------------------ instrumentation and faults

    @property
    def requests(self) -> List[RecordedRequest]:
        """A copy of every request received since the last :meth:`reset_requests`.

        ``query`` joins a repeated parameter's values with commas; ``headers``
        keep the case the client sent (look one up with :func:`header`).
        """
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        """How many requests arrived since the last :meth:`reset_requests`."""
        with self._lock:
            return len(self._requests)

    def request_counts(self) -> Counter:
        """How many requests arrived per ``(method, path)`` (path without query or trailing slash)."""
        with self._lock:
            return Counter((request.method, request.path) for request in self._requests)

    def count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        """How many requests had this method and/or this exact path."""
        with self._lock:
            return sum(
                1
                for request in self._requests
                if (method is None or request.method == method) and (path is None or request.path == path)
            )

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        n: int,
        status: int = 500,
        *,
        path: Optional[str] = None,
        body: Optional[str] = None,
        method: Optional[str] = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` and a text ``body``.

        A request matches when its path starts with ``path`` and its method is
        ``method`` (either may be None: any). Checked before authentication, as
        a failing proxy or servlet container would answer.
        """
        with self._lock:
            self._failures.extend((_Failure(status, path, body), method) for _ in range(n))

    # ------------------------------------------------------------------ serving

    def _serve(self, method: str, raw_path: str, headers: Dict[str, str], body: bytes) -> Reply:
        """Record, inject faults, delay, authenticate, then let the subclass answer."""
        parts = urlsplit(raw_path)
        if self.gateway_prefix:
            if not (parts.path + "/").startswith(self.gateway_prefix + "/"):
                return Reply(404, f"no gateway route for {parts.path}")
            parts = parts._replace(path=parts.path[len(self.gateway_prefix):])
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        recorded = RecordedRequest(method, path, {k: ",".join(v) for k, v in query.items()}, headers)
        injected = self._record_and_take_failure(recorded)
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)
        if injected is not None:
            text = injected.body if injected.body is not None else f"injected failure (HTTP {injected.status})"
            return Reply(injected.status, text)
        request = Request(method, path, raw_path, query, headers, body, None)
        extra: Mapping[str, str] = {}
        try:
            early = self._before_auth(request)
            if early is not None:
                reply = early
            else:
                if self.authenticator is not None and not self._exempt_from_auth(request):
                    outcome = self.authenticator.authenticate(query, headers)
                    request = request._replace(user=outcome.user)
                    extra = outcome.headers
                reply = self._handle(request)
        except _HttpError as error:
            reply = self._error_reply(request, error)
        if extra:
            reply = reply._replace(headers={**extra, **reply.headers})
        self._after(request, reply)
        return reply

    def _record_and_take_failure(self, request: RecordedRequest) -> Optional[_Failure]:
        with self._lock:
            self._requests.append(request)
            for index, (failure, method) in enumerate(self._failures):
                if (failure.path is None or request.path.startswith(failure.path)) and (
                    method is None or method == request.method
                ):
                    return self._failures.pop(index)[0]
        return None

    def _before_auth(self, request: Request) -> Optional[Reply]:
        """A reply that comes before authentication (an HA redirect), or None. Override."""
        return None

    def _exempt_from_auth(self, request: Request) -> bool:
        """Whether ``request`` skips the authenticator (an unauthenticated status page). Override."""
        return False

    def _handle(self, request: Request) -> Reply:
        """The answer to an authenticated request; raise :data:`HttpError` for errors. Override."""
        raise NotImplementedError

    def _error_reply(self, request: Request, error: _HttpError) -> Reply:
        """How an :data:`HttpError` (from the authenticator or :meth:`_handle`) is sent. Override."""
        return Reply(error.status, error.body, error.headers)

    def _after(self, request: Request, reply: Reply) -> None:
        """Runs once a reply is decided, before it is sent (state changes between requests). Override."""
