"""A small HTTP client for evidence sources: GET with retries, keep-alive, gzip, TLS and SPNEGO.

Shared by every HTTP source (the YARN ResourceManager today). It speaks
``http.client`` directly (imported at the first request: it imports ``ssl``,
which a run that asks no source never pays for), never follows redirects
(credentials must not travel to a host nobody configured), never reads proxy
variables, and keeps one connection per base URL. Authentication is what the
source hands it: fixed headers (HTTP basic), fixed query parameters
(``user.name``), or Kerberos: a SPNEGO token for ``HTTP@<host>``
(``gssapi``, the ``kerberos`` extra) until the server hands out hadoop-auth's
``hadoop.auth`` cookie, then the cookie alone, as Hadoop's own
``AuthenticatedURL`` does; when the server no longer takes the cookie (HTTP
401, it expired), a fresh token at once.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import sys
import threading
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)
from urllib.parse import quote, urlencode, urlsplit

from zkjanitor import __version__
from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.redact import redact_url_credentials

if TYPE_CHECKING:
    import ssl
    from http.client import HTTPConnection

log = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
KERBEROS_MISSING = "Kerberos needs the optional extra: pip install 'zkjanitor[kerberos]'"
AUTH_COOKIE = "hadoop.auth"
"""hadoop-auth's cookie: proof of a SPNEGO login, valid for hours (``token.validity``, 10 h by default)."""
SPNEGO_MECHANISM = "1.3.6.1.5.5.2"
"""The OID requests-gssapi asked for: a SPNEGO token, which gateways in front of an RM expect too."""
USER_AGENT = f"zkjanitor/{__version__}"
UNRESERVED_IN_PATHS = "/%!$&'()*+,;=:@~"
"""Characters of a base URL's path prefix sent as they are (the rest is percent-encoded)."""


class RequestFailed(Exception):
    """One server could not answer (after retries); ``reason`` is short and credential-free."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def gssapi_module() -> Any:
    """The ``gssapi`` package SPNEGO needs; ConfigError when the optional extra is missing."""
    try:
        import gssapi
    except ImportError:
        raise ConfigError(KERBEROS_MISSING) from None
    return gssapi


def _tls_context(verify: Union[bool, str]) -> "ssl.SSLContext":
    """How to check an https server: the system's CAs (True), nothing (False), or the CA file or directory."""
    import ssl

    if isinstance(verify, str) and verify:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Endpoint(NamedTuple):
    """Where one base URL's requests go."""

    https: bool
    host: str
    port: Optional[int]
    prefix: str
    """The base URL's path (a gateway's ``/yarn``), percent-encoded, without a trailing slash."""


def _endpoint(base: str) -> _Endpoint:
    parts = urlsplit(base)
    return _Endpoint(
        parts.scheme == "https",
        parts.hostname or "",
        parts.port,
        quote(parts.path.rstrip("/"), safe=UNRESERVED_IN_PATHS),
    )


class Reply(NamedTuple):
    """A server's answer: the HTTP status, the (decompressed) body, and where a redirect points."""

    status_code: int
    body: bytes
    location: Optional[str] = None

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not JSON (or not UTF-8/16/32)."""
        return json.loads(self.body)


class _UndecodableBody(Exception):
    """A gzip body that does not decompress."""


def _decoded(body: bytes, content_encoding: Optional[str]) -> bytes:
    """``body`` without the gzip encoding the request allowed (``Accept-Encoding: gzip``)."""
    if (content_encoding or "").strip().lower() not in ("gzip", "x-gzip"):
        return body
    import zlib

    try:
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    except zlib.error:
        raise _UndecodableBody("a gzip body that does not decompress") from None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it wraps or was raised while handling, each once."""
    seen: Set[int] = set()
    pending = [exc]
    while pending and len(seen) < 32:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(item for item in (current.__cause__, current.__context__) if item is not None)


def _connection_problem(exc: BaseException) -> str:
    """A few words on why a request failed, without URLs or credentials."""
    from http.client import HTTPException

    causes = list(_causes(exc))
    ssl = sys.modules.get("ssl")  # not imported: no TLS was tried
    certificate_errors = (ssl.SSLCertVerificationError,) if ssl is not None else ()
    tls_errors = (ssl.SSLError,) if ssl is not None else ()
    if any(isinstance(cause, tls_errors) and _not_a_tls_server(cause) for cause in causes):
        return "not a TLS server: try http://"
    # Most specific first (ssl.SSLError is also an OSError).
    for kinds, problem in (
        ((ConnectionRefusedError,), "connection refused"),
        ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), "connection reset"),
        ((socket.gaierror,), "host not found"),
        (certificate_errors, "TLS error: check the certificate"),
        (tls_errors, "TLS handshake failed"),
        ((socket.timeout,), "timed out"),
    ):
        if any(isinstance(cause, kinds) for cause in causes):
            return problem
    if isinstance(exc, HTTPException):
        return f"bad HTTP reply ({type(exc).__name__})"
    return f"cannot connect ({type(exc).__name__})"


def _not_a_tls_server(error: BaseException) -> bool:
    """An SSL error that means the peer answered in plain text (an http port asked for https)."""
    reason = str(getattr(error, "reason", "") or "").upper()
    plain_text_reasons = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE")
    return reason in plain_text_reasons or "wrong version number" in str(error)

def validate_base_urls(urls: Sequence[str], *, option: str, credentials: str) -> List[str]:
    """Base URLs without a trailing slash (a path prefix, e.g. a Knox gateway's, stays); ConfigError otherwise.

    ``option`` names the option in messages; ``credentials`` says where credentials go instead of the URL.
    """
    validated = []
    for url in urls:
        shown = redact_url_credentials(url)  # error messages must not echo a password
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError:
            raise ConfigError(f"invalid {option} URL {shown!r}: expected http(s)://host:port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"invalid {option} URL {shown!r}: expected http(s)://host:port")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(f"do not put credentials in {option} URLs: use {credentials}")
        if parts.query or parts.fragment:
            raise ConfigError(f"invalid {option} URL {shown!r}: give the base URL without ?query or #fragment")
        validated.append(url.strip().rstrip("/"))
    return validated


def basic_authorization(user: str, password: str) -> str:
    """The ``Authorization`` header of HTTP basic auth."""
    credentials = f"{user}:{password}"
    try:  # Latin-1 where it can be, as most servers decode it; UTF-8 (RFC 7617) for the rest
        raw = credentials.encode("latin-1")
    except UnicodeEncodeError:
        raw = credentials.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


class HttpClient:
    """GETs from a fixed set of base URLs, one kept-alive connection each.

    Every request has ``timeout`` seconds (to connect, and for each read) and
    up to ``retries`` retries on connection errors, timeouts and 5xx; a
    timeout that is not positive or negative retries are a ConfigError naming
    the server (``name``).
    ``verify`` is how an https server's certificate is checked: True against
    the system's CA store, False not at all, a path against the CAs in that
    PEM file (or ``c_rehash`` directory). ``refused(base, status)`` words the
    error raised for HTTP 401/403 (the source knows which option to name).
    Used by one thread per base URL at a time.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout: float,
        retries: int,
        verify: Union[bool, str],
        headers: Mapping[str, str],
        params: Mapping[str, str],
        kerberos: bool,
        refused: Callable[[str, int], str],
        name: str,
    ) -> None:
        if timeout <= 0:
            raise ConfigError(f"the {name} timeout must be positive")
        if retries < 0:
            raise ConfigError(f"{name} retries must be >= 0")
        self.timeout = timeout
        self.retries = retries
        self.requests_made = 0
        self._count_lock = threading.Lock()
        self._endpoints = {base: _endpoint(base) for base in urls}
        self._headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "User-Agent": USER_AGENT,
                         **headers}
        self._params = dict(params)
        self._gssapi = gssapi_module() if kerberos else None
        self._kerberos_failed = False
        self._cookies: Dict[str, str] = {}
        """The ``hadoop.auth`` cookie of each base URL (Kerberos only)."""
        self._refused = refused
        self._name = name
        self._verify = verify
        self._tls: Optional["ssl.SSLContext"] = None
        self._connections: Dict[str, "HTTPConnection"] = {}
        if any(endpoint.https for endpoint in self._endpoints.values()):
            if isinstance(verify, str) and verify:
                try:  # a CA file that cannot be used is a usage error, found before any request
                    self._tls = _tls_context(verify)
                except (OSError, ValueError) as exc:
                    raise ConfigError(f"cannot use the {name} CA file {verify!r}: {exc}") from None
            elif not verify:
                log.warning("the %s server's TLS certificate will not be checked", name)

    def close(self) -> None:
        """Close the connections (a later request opens a new one)."""
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            connection.close()

    def get(self, base: str, path: str, params: Mapping[str, str]) -> Reply:
        """One GET (see :meth:`request`)."""
        return self.request("GET", base, path, params)

    def request(self, method: str, base: str, path: str, params: Mapping[str, str],
                headers: Optional[Mapping[str, str]] = None) -> Reply:
        """One request, retried on connection errors, timeouts and 5xx; redirects are not followed.

        ``headers`` add to the client's own. Raises RequestFailed when retries
        run out, SourceUnavailable on HTTP 401/403.
        """
        from http.client import HTTPException

        query = urlencode({**self._params, **params})
        target = self._endpoints[base].prefix + path + (f"?{query}" if query else "")
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(MAX_BACKOFF_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)))
            with self._count_lock:  # several base URLs may be asked in parallel
                self.requests_made += 1
            try:
                response, sent_cookie = self._exchange(method, base, target, headers or {})
                if response.status_code == 401 and sent_cookie:
                    # The cookie expired (or the server restarted): log in again now, not as a retry.
                    log.debug("%s %s no longer takes the %s cookie; negotiating again", self._name, base, AUTH_COOKIE)
                    self._cookies.pop(base, None)
                    with self._count_lock:
                        self.requests_made += 1
                    response, _ = self._exchange(method, base, target, headers or {})
            except socket.timeout:
                problem = f"timed out after {self.timeout:g}s"
                continue
            except _UndecodableBody as exc:
                problem = str(exc)
                continue
            except (OSError, HTTPException, UnicodeError) as exc:
                problem = _connection_problem(exc)
                continue
            log.debug("%s %s%s: HTTP %d", method, base, path, response.status_code)
            if response.status_code in (401, 403):
                raise SourceUnavailable(self._refused(base, response.status_code))
            if response.status_code < 500:
                return response
            problem = f"HTTP {response.status_code}"
        attempts = self.retries + 1
        raise RequestFailed(problem if attempts == 1 else f"{problem}, {attempts} attempts")

    def _exchange(self, method: str, base: str, target: str, extra_headers: Mapping[str, str]) -> Tuple[Reply, bool]:
        """Send ``method`` ``target`` over ``base``'s kept-alive connection, opening one if there is none.

        Returns the reply and whether the request carried the ``hadoop.auth``
        cookie (instead of a SPNEGO token).

        A kept-alive connection the server (or a proxy) closed while it was idle is
        found when it is used again; the request is then sent once more on a new
        connection, which is not a retry. Any other failure closes the
        connection and raises.
        """
        from http.client import RemoteDisconnected

        while True:
            connection = self._connections.get(base)
            reused = connection is not None and connection.sock is not None
            if connection is None:
                connection = self._connections[base] = self._connect(base)
            headers = self._request_headers(base)
            try:
                connection.request(method, target, headers={**headers, **extra_headers})
                response = connection.getresponse()
                body = response.read()
            except (RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self._drop(base)
                if not reused:
                    raise
                log.debug("%s %s closed an idle connection; reconnecting", self._name, base)
                continue
            except BaseException:
                self._drop(base)
                raise
            if self._gssapi is not None:
                self._keep_cookie(base, response.msg.get_all("Set-Cookie") or [])
            reply = Reply(response.status, _decoded(body, response.getheader("Content-Encoding")),
                          response.getheader("Location"))
            return reply, "Cookie" in headers

    def _keep_cookie(self, base: str, set_cookies: Sequence[str]) -> None:
        """Remember (or forget, when the server clears it) ``base``'s ``hadoop.auth`` cookie."""
        for header in set_cookies:
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            if name.strip() != AUTH_COOKIE:
                continue
            cleared = "max-age=0" in attributes.replace(" ", "").lower()
            if value.strip().strip('"') and not cleared:
                self._cookies[base] = value.strip()
            else:
                self._cookies.pop(base, None)

    def _connect(self, base: str) -> "HTTPConnection":
        """A connection to ``base``'s host (opened by its first request)."""
        import http.client

        endpoint = self._endpoints[base]
        if not endpoint.https:
            return http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=self.timeout)
        if self._tls is None:
            self._tls = _tls_context(self._verify)
        return http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=self.timeout, context=self._tls)

    def _drop(self, base: str) -> None:
        connection = self._connections.pop(base, None)
        if connection is not None:
            connection.close()

    def _request_headers(self, base: str) -> Dict[str, str]:
        """The headers of one request: with Kerberos, the server's cookie, else a new SPNEGO token."""
        if self._gssapi is None:
            return self._headers
        cookie = self._cookies.get(base)
        if cookie is not None:
            return {**self._headers, "Cookie": f"{AUTH_COOKIE}={cookie}"}
        token = self._spnego_token(self._endpoints[base].host)
        if token is None:
            return self._headers
        return {**self._headers, "Authorization": "Negotiate " + base64.b64encode(token).decode("ascii")}

    def _spnego_token(self, host: str) -> Optional[bytes]:
        """The first SPNEGO token for ``HTTP@host``, sent without waiting for a 401 challenge.

        None when there is no usable ticket: the request then goes without it,
        and the server's 401 says to check the ticket.
        """
        gssapi = self._gssapi
        assert gssapi is not None  # only called with Kerberos set up (_request_headers)
        try:
            context = gssapi.SecurityContext(
                name=gssapi.Name(f"HTTP@{host}", gssapi.NameType.hostbased_service),
                usage="initiate",
                flags=[],
                mech=gssapi.OID.from_int_seq(SPNEGO_MECHANISM),
            )
            return bytes(context.step())
        except Exception as exc:  # gssapi.exceptions.GSSError, or a broken Kerberos set-up
            first_line = (str(exc).splitlines() or [""])[0][:200]
            level = logging.DEBUG if self._kerberos_failed else logging.WARNING
            self._kerberos_failed = True
            log.log(level, "no Kerberos token for HTTP@%s (%s): %s", host, type(exc).__name__, first_line)
            return None
