"""Keep secrets out of everything zkjanitor prints.

Livy's records hold the RSC driver's shared secret (in ``rscDriverUri``) and
the user's Spark conf; URLs and connect strings given to zkjanitor may carry
passwords. Every helper here is total: odd input is hidden, never an error.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

REDACTED = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_URL_USERINFO = re.compile(f"({_SCHEME.pattern})[^/?#\\s]*@")
"""A URL's scheme and its ``userinfo@``: up to the last ``@`` of the authority,
which ends at the first ``/``, ``?``, ``#`` or whitespace, as urllib and
requests split it (so exactly what they would send as credentials)."""


def redact_uri(uri: Optional[str]) -> Optional[str]:
    """``uri`` with its userinfo replaced by REDACTED, e.g. ``rsc://***@10.1.2.3:39127``.

    Everything up to the last ``@`` counts as userinfo, so a secret holding
    ``@`` or ``/`` is still hidden. A value that is not a string is hidden whole.
    """
    if uri is None:
        return None
    if not isinstance(uri, str):
        return REDACTED
    scheme = _SCHEME.match(uri)
    prefix = scheme.group() if scheme else ""
    _, at, host_and_rest = uri[len(prefix):].rpartition("@")
    if not at:
        return uri
    return f"{prefix}{REDACTED}@{host_and_rest}"


def redact_secrets(text: str, secrets: Iterable[Optional[str]]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by REDACTED.

    For messages (e.g. from a failed HTTP or ZooKeeper call) that may echo
    credentials. Longer secrets are matched first, so a secret that contains
    another is hidden whole.
    """
    distinct = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
    if not distinct:
        return text
    pattern = "|".join(re.escape(secret) for secret in distinct)
    return re.sub(pattern, REDACTED, text)


def redact_url_credentials(url: str) -> str:
    """``url`` without any ``user:password@``, e.g. ``http://rm1:8088``.

    Handles one or several URLs of any scheme (``http://a:b@rm1,http://c:d@rm2``)
    and ZooKeeper connect strings without a scheme
    (``digest:user:pw@zk1:2181,zk2:2181/chroot``). A password with an unescaped
    ``/`` is not a valid URL; pass it to ``redact_secrets`` too.
    """
    if "://" in url:
        return _URL_USERINFO.sub(r"\1", url)
    hosts, slash, chroot = url.partition("/")
    bare_hosts = (host.rpartition("@")[2] for host in hosts.split(","))
    return ",".join(bare_hosts) + slash + chroot
