"""Real SPNEGO (Kerberos over HTTP) for the HTTP doubles, as Hadoop's hadoop-auth does it.

:class:`SpnegoAuthenticator` is the server side of ``hadoop.http.authentication.type=kerberos``
(hadoop-auth's ``AuthenticationFilter`` with the ``KerberosAuthenticationHandler``),
independent of any one double: give it a request's headers, it answers with the
status and headers to send.

* A valid ``hadoop.auth`` cookie (signed, not expired) is enough.
* Otherwise ``Authorization: Negotiate <token>`` is accepted with ``gssapi``
  against a keytab holding ``HTTP/<host>@REALM``; the reply carries the server's
  token (``WWW-Authenticate: Negotiate <token>``, when there is one) and a new
  cookie ``hadoop.auth="u=<user>&p=<principal>&t=kerberos&e=<expiry ms>&s=<signature>"``.
* No credentials: 401 with ``WWW-Authenticate: Negotiate``; a token that does
  not verify: 403, as hadoop-auth answers an ``AuthenticationException``.
  Either way an expired or forged cookie is cleared.

The keytab is named through gssapi's credential store, and the replay cache
lives in a directory of the caller's, so the machine's ``/etc/krb5.keytab`` and
``/var/tmp`` are never used. The process needs ``KRB5_CONFIG`` of the realm
(``MitKdc.env``) only for enctype settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional

from zkjanitor.testing.http_double import Authenticated, Authenticator, HttpError

COOKIE_NAME = "hadoop.auth"
NEGOTIATE = "Negotiate"
DEFAULT_COOKIE_SECONDS = 36000.0
"""hadoop-auth's ``token.validity`` default (10 hours)."""


class SpnegoAnswer(NamedTuple):
    """What to do with one request: serve it (``user`` set) or answer ``status`` with ``body``.

    ``headers`` go on the reply either way (a new cookie, the server's token,
    a challenge, a cleared cookie).
    """

    user: Optional[str]
    status: int
    headers: Dict[str, str]
    body: str = ""
    via: str = ""
    """``cookie`` or ``negotiate`` when authenticated."""


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def cookie_value(headers: Mapping[str, str], name: str = COOKIE_NAME) -> Optional[str]:
    """The value of cookie ``name`` in a request's ``Cookie`` header (quotes removed), or None."""
    for part in _header(headers, "Cookie").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None


class SpnegoAuthenticator:
    """Kerberos SPNEGO with hadoop-auth's signed cookie, for a test HTTP server.

    ``keytab`` holds the service's key (``HTTP/127.0.0.1@REALM``); ``rcache_dir``
    is where gssapi keeps its replay cache. Cookies last ``cookie_seconds``;
    :meth:`advance_clock` moves this authenticator's clock forward so a test can
    make every cookie it issued expire. Counters: :attr:`negotiations` (tokens
    accepted), :attr:`cookie_logins` (requests let in by a cookie),
    :attr:`refusals` (401 and 403 answers).
    """

    def __init__(self, keytab: Path, rcache_dir: Path, *, cookie_seconds: float = DEFAULT_COOKIE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.keytab = keytab
        self.rcache_dir = rcache_dir
        self.cookie_seconds = cookie_seconds
        self._clock = clock
        self._offset = 0.0
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._credentials: Any = None
        self.negotiations = 0
        self.cookie_logins = 0
        self.refusals = 0
        self.users: List[str] = []
        """Every principal a token was accepted for, in order."""

    # ------------------------------------------------------------------ clock and counters

    def now(self) -> float:
        return self._clock() + self._offset

    def advance_clock(self, seconds: float) -> None:
        """Move this authenticator's clock ``seconds`` ahead (cookies expire; Kerberos tickets do not)."""
        self._offset += seconds

    # ------------------------------------------------------------------ requests

    def authenticate(self, headers: Mapping[str, str]) -> SpnegoAnswer:
        """Check one request's ``Cookie`` and ``Authorization`` headers."""
        clear: Dict[str, str] = {}
        cookie = cookie_value(headers)
        if cookie:
            user = self._verify_cookie(cookie)
            if user is not None:
                with self._lock:
                    self.cookie_logins += 1
                return SpnegoAnswer(user, 200, {}, via="cookie")
            clear = {"Set-Cookie": f"{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly"}
        scheme, _, token = _header(headers, "Authorization").strip().partition(" ")
        if scheme.lower() != NEGOTIATE.lower() or not token.strip():
            return self._refuse(401, "Authentication required", {**clear, "WWW-Authenticate": NEGOTIATE})
        try:
            raw = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return self._refuse(403, "Authentication failed: the Negotiate token is not base64", clear)
        try:
            user, reply = self._accept(raw)
        except Exception as exc:  # gssapi.exceptions.GSSError: a bad, replayed or foreign token
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            return self._refuse(403, f"Authentication failed: {reason}", clear)
        answer_headers = {"Set-Cookie": self._new_cookie(user)}
        if reply:
            answer_headers["WWW-Authenticate"] = f"{NEGOTIATE} {base64.b64encode(reply).decode('ascii')}"
        with self._lock:
            self.negotiations += 1
            self.users.append(user)
        return SpnegoAnswer(user, 200, answer_headers, via="negotiate")

    def _refuse(self, status: int, body: str, headers: Dict[str, str]) -> SpnegoAnswer:
        with self._lock:
            self.refusals += 1
        return SpnegoAnswer(None, status, headers, body)

    def _accept(self, token: bytes) -> "tuple[str, Optional[bytes]]":
        """Accept one initiator token in a fresh context: (client principal, reply token or None)."""
        import gssapi

        if self._credentials is None:
            self.rcache_dir.mkdir(parents=True, exist_ok=True)
            self._credentials = gssapi.Credentials(
                usage="accept",
                store={"keytab": f"FILE:{self.keytab}", "rcache": f"file2:{self.rcache_dir / 'http.rcache2'}"},
            )
        context = gssapi.SecurityContext(creds=self._credentials, usage="accept")
        reply = context.step(token)
        if not context.complete:
            raise RuntimeError("the Negotiate exchange needs another round trip, which hadoop-auth does not do")
        return str(context.initiator_name), (bytes(reply) if reply else None)

    # ------------------------------------------------------------------ cookies

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def _new_cookie(self, principal: str) -> str:
        """A ``Set-Cookie`` value as hadoop-auth's ``AuthenticationFilter.createAuthCookie`` writes it."""
        expires = self.now() + self.cookie_seconds
        user = principal.split("@")[0].split("/")[0]
        token = f"u={user}&p={principal}&t=kerberos&e={int(expires * 1000)}"
        value = f"{token}&s={self._sign(token)}"
        return f'{COOKIE_NAME}="{value}"; Path=/; Expires={formatdate(expires, usegmt=True)}; HttpOnly'

    def _verify_cookie(self, value: str) -> Optional[str]:
        """The principal of a valid, unexpired cookie this authenticator signed; else None."""
        token, separator, signature = value.rpartition("&s=")
        if not separator or not hmac.compare_digest(self._sign(token), signature):
            return None
        fields = dict(part.partition("=")[::2] for part in token.split("&"))
        try:
            expires_ms = int(fields.get("e", ""))
        except ValueError:
            return None
        if expires_ms <= self.now() * 1000:
            return None
        return fields.get("p") or None


class SpnegoHttpAuthenticator(Authenticator):
    """:class:`SpnegoAuthenticator` as the ``authenticator`` of an :class:`~zkjanitor.testing.http_double.HttpDouble`
    (the Livy, YARN Timeline and Spark History Server doubles)."""

    def __init__(self, spnego: SpnegoAuthenticator) -> None:
        self.spnego = spnego

    def authenticate(self, query: Mapping[str, List[str]], headers: Mapping[str, str]) -> Authenticated:
        answer = self.spnego.authenticate(headers)
        if answer.user is None:
            raise HttpError(answer.status, answer.body, answer.headers)
        return Authenticated(answer.user, answer.headers)
