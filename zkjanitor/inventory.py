"""What reading a Livy state store yields: every session record, decoded, and what is beside them.

A store fills it (:meth:`zkjanitor.store.SessionStore.read`; for ZooKeeper,
:mod:`zkjanitor.zk.inventory`). Layout (docs/concepts.md): ``/<prefix>/v1/<batch|interactive>/<id>`` plus a
``state`` child holding ``{"nextSessionId": N}``. Non-numeric children are not
sessions; they are reported and never touched.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.decoder import counter_problem, decode_counter
from zkjanitor.errors import ConfigError
from zkjanitor.model import Session, SessionType

COUNTER_NODE = "state"


class ParentInfo(NamedTuple):
    """One ``/<prefix>/v1/<type>`` parent and what is beside the sessions in it."""

    type: SessionType
    path: str
    exists: bool
    num_children: int = 0
    children_reply_bytes: int = 0
    counter: Optional[int] = None
    other_children: Tuple[str, ...] = ()
    counter_problem: Optional[str] = None
    """Why ``counter`` is unusable: ``missing``, ``unreadable (NoAuth)`` or ``corrupt: <what>``; None when fine."""


class CounterNode(NamedTuple):
    """A type's id counter znode (``/<prefix>/v1/<type>/state``) as read; ``version`` makes a repair conditional."""

    path: str
    exists: bool
    value: Optional[int] = None
    """``nextSessionId``, None when missing or unusable."""
    problem: Optional[str] = None
    """``missing``, ``corrupt: ...``, ``unreadable (NoAuth)``, or None: :attr:`ParentInfo.counter_problem`."""
    version: Optional[int] = None
    """The znode's data version (None when missing)."""
    data: bytes = b""

    @classmethod
    def from_data(cls, path: str, data: Optional[bytes], version: int) -> "CounterNode":
        """An existing counter from its bytes: the value Livy would read, or what is wrong with it."""
        data = data or b""
        problem = counter_problem(data)
        return cls(path, True, decode_counter(data), None if problem is None else f"corrupt: {problem}", version, data)


class Inventory(NamedTuple):
    """Everything read from the store in one pass; ``sessions`` in (type, id) order."""

    prefix: str
    sessions: List[Session]
    parents: Dict[SessionType, ParentInfo]
    unreadable: List[Tuple[str, str]]
    read_method: str
    anomalies: List[Tuple[str, str]] = []
    """Session-named znodes Livy cannot have written, as ``(path, why)``: ``ephemeral`` or ``has-children``.
    They are not sessions: never classified, never selected, never deleted."""


def normalise_prefix(prefix: str) -> str:
    """Livy's key prefix without surrounding slashes; ConfigError for one that names no single znode path.

    ZooKeeper paths have no empty, ``.`` or ``..`` components and no control
    characters; Livy's prefix may contain ``/`` between components.
    """
    components = prefix.strip("/").split("/")
    bad = next((c for c in components if c in ("", ".", "..")), None)
    if bad is not None or any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in prefix):
        why = "a control character" if bad is None else ("an empty component" if bad == "" else f"a {bad!r} component")
        raise ConfigError(f"invalid prefix {prefix!r}: it has {why}; give Livy's key prefix, e.g. livy")
    return "/".join(components)


def store_root(prefix: str) -> str:
    """``"livy"`` -> ``"/livy"`` (Livy uses the prefix verbatim, '/' allowed inside)."""
    return "/" + prefix.strip("/")


def parent_path(prefix: str, session_type: SessionType) -> str:
    return f"{store_root(prefix)}/v1/{session_type.value}"


def no_store_here(root: str, children: Sequence[str]) -> str:
    """Why ``root``, which exists, holds no Livy state store (neither ``v1/batch`` nor ``v1/interactive``)."""
    shown = ", ".join(sorted(children)[:5]) + (f" and {len(children) - 5} more" if len(children) > 5 else "")
    return (f"no Livy state store at {root}: it exists but has neither v1/batch nor v1/interactive "
            f"({'its children: ' + shown if children else 'it has no children'})")


def children_reply_bytes(names: Sequence[str]) -> int:
    """Size of ZooKeeper's getChildren reply for these names (Java clients cap it at 1 MB)."""
    return 4 + sum(4 + len(name.encode("utf-8")) for name in names)
