"""The interface every application-state source implements (YARN today).

Modelled on pip-audit's vulnerability service: one abstract source answers a
per-item query, and a bulk query that sources override with something cheaper
than asking item by item. A Spark History Server, Livy or Kubernetes source
plugs in by subclassing :class:`AppStateSource`.

The contract of an answer:

* ``Lookup(FOUND, record)`` or ``Lookup(NOT_FOUND)`` only when the source is
  reachable, answering, and really has (or has no) such application;
* ``Lookup(UNKNOWN, detail=<an UNKNOWN reason of model.REASONS>)`` when it
  cannot say for one item;
* raise :class:`~zkjanitor.errors.SourceUnavailable` (one actionable line, no
  credentials) when the source cannot be reached or refuses us at all.

``NOT_FOUND`` makes a session stale, so a source answers it only when it can
vouch that it would know the application; otherwise it answers ``UNKNOWN``
with the reason, and when that holds for a whole run it says why in
:attr:`AppStateSource.cannot_vouch`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import List, NamedTuple, Optional, Sequence

from zkjanitor.model import Lookup


class AppQuery(NamedTuple):
    """What a Livy session knows about its application: the id (may be null) and the tag.

    ``created_ms`` is the session znode's creation time (ctime), when known: a
    source uses it to judge whether it should know the application at all.
    """

    app_id: Optional[str]
    app_tag: Optional[str]
    created_ms: Optional[int] = None


class AppStateSource(ABC):
    """Answers "does this session's application still exist, and in what state?"."""

    name: str
    """Short identifier used in logs and messages, e.g. ``"yarn"``."""

    cannot_vouch: Optional[str] = None
    """Set by :meth:`lookup_many` when the source answered but cannot vouch for its
    "not found" answers (they came back ``UNKNOWN``): one line for the operator."""

    notes: Sequence[str] = ()
    """What the operator should know about how the source answered, one line each
    (e.g. an HA member that hung and was passed over); shown as warnings."""

    @abstractmethod
    def lookup(self, query: AppQuery) -> Lookup:
        """The answer for one session (see the module docstring for the contract)."""

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """One answer per query, in order; sources override this with a bulk query."""
        return [self.lookup(query) for query in queries]

    def prefetch(self) -> None:
        """Start fetching, in the background, what the next ``lookup_many`` needs; never raises.

        Callers call it before their own slow work (reading ZooKeeper), so the
        two overlap; a failure surfaces from ``lookup_many``, and only if that
        call needs the source. The default fetches nothing ahead.
        """

    def close(self) -> None:
        """Release connections; the default holds none."""

    def __enter__(self) -> "AppStateSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
