"""Reading a Livy state store out of ZooKeeper: every session znode, decoded (:class:`~zkjanitor.inventory.Inventory`).

Layout (docs/concepts.md): ``/<prefix>/v1/<batch|interactive>/<id>`` plus a
``state`` child holding ``{"nextSessionId": N}``. Non-numeric children are not
sessions; they are reported and never touched.
"""

from __future__ import annotations

from array import array
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NoNodeError

from zkjanitor.decoder import decode_session, session_id_from_name
from zkjanitor.errors import StoreNotFound, ZooKeeperUnavailable
from zkjanitor.inventory import (
    COUNTER_NODE,
    CounterNode,
    Inventory,
    ParentInfo,
    children_reply_bytes,
    no_store_here,
    parent_path,
    store_root,
)
from zkjanitor.model import Session, SessionType, Znode
from zkjanitor.zk.reader import read_children


def read_inventory(
    client: KazooClient,
    prefix: str,
    types: Sequence[SessionType],
    *,
    read_method: str = "auto",
    progress: Optional[Callable[[int, int], None]] = None,
    sink: Optional[Callable[[List[Session]], None]] = None,
) -> Inventory:
    """List and read every session znode of the given types.

    Sessions come in the order every listing shows them: batch before
    interactive, each by id. Raises :class:`StoreNotFound` when ``/<prefix>``
    does not exist at all. ``progress(done, total)`` is called as session
    znodes are read. With ``sink``, each batch of sessions goes to it as it is
    read (while the next batches are in flight) and ``Inventory.sessions`` is empty.
    """
    root = store_root(prefix)
    if client.exists(root) is None:
        where = f"under chroot {client.chroot}" if client.chroot else "with no chroot"
        raise StoreNotFound(
            f"no Livy state store at {root} {where}: check --prefix "
            "(Livy's livy.server.recovery.zk-state-store.key-prefix) and the chroot in --zk"
        )
    if not any(client.exists(parent_path(prefix, t)) for t in SessionType):
        raise StoreNotFound(no_store_here(root, client.get_children(root)) + ": check --prefix "
                            "(Livy's livy.server.recovery.zk-state-store.key-prefix) and the chroot in --zk")
    parents: Dict[SessionType, ParentInfo] = {}
    to_read: List[Tuple[SessionType, str, "array[int]"]] = []
    for session_type in sorted(types, key=lambda t: t.value):
        path = parent_path(prefix, session_type)
        try:
            names = client.get_children(path)
        except NoNodeError:
            parents[session_type] = ParentInfo(session_type, path, exists=False)
            continue
        except NoAuthError:
            raise ZooKeeperUnavailable(
                f"ZooKeeper refused to list {path} (NoAuth): check its ACL and --zk-auth or --zk-sasl"
            ) from None
        parents[session_type], session_ids = _parent_info(client, session_type, path, names)
        del names  # a million names are 60 MB: only their ids (8 bytes each) are kept
        to_read.append((session_type, path, session_ids))

    total = sum(len(names) for _, _, names in to_read)
    sessions: List[Session] = []
    take = sessions.extend if sink is None else sink
    unreadable: List[Tuple[str, str]] = []
    anomalies: List[Tuple[str, str]] = []
    method_used = read_method
    done_before = 0
    for session_type, path, names in to_read:
        report = (lambda n, base=done_before: progress(base + n, total)) if progress else None

        def decode(znodes: List[Znode], session_type: SessionType = session_type, name_at: int = len(path) + 1) -> None:
            # Called per batch as it arrives: decoding overlaps the reads still in flight. Each
            # name was accepted by session_id_from_name above, so int() of it is the id.
            odd = [(znode.path, "ephemeral" if znode.ephemeral_owner else "has-children")
                   for znode in znodes if znode.ephemeral_owner or znode.num_children]
            if odd:
                anomalies.extend(odd)
                znodes = [znode for znode in znodes if znode.not_a_session is None]
            take([decode_session(session_type, znode, int(znode.path[name_at:])) for znode in znodes])

        result = read_children(client, path, names, method=read_method, progress=report, sink=decode)
        method_used = result.method
        unreadable.extend(result.errors)
        done_before += len(names)
    return Inventory(prefix, sessions, parents, unreadable, method_used, anomalies)


def _parent_info(client: KazooClient, session_type: SessionType, path: str,
                 names: Sequence[str]) -> Tuple[ParentInfo, "array[int]"]:
    """A parent's info from its children's names, and its session ids in order."""
    session_ids = array("q", sorted(i for i in map(session_id_from_name, names) if i is not None))
    has_counter = COUNTER_NODE in names
    others: Tuple[str, ...] = ()
    if len(session_ids) < len(names) - has_counter:  # more than the counter beside the sessions
        others = tuple(sorted(n for n in names if session_id_from_name(n) is None and n != COUNTER_NODE))
    counter = (read_counter_node(client, f"{path}/{COUNTER_NODE}") if has_counter
               else CounterNode(f"{path}/{COUNTER_NODE}", exists=False, problem="missing"))
    return ParentInfo(
        session_type,
        path,
        exists=True,
        num_children=len(names),
        children_reply_bytes=children_reply_bytes(names),
        counter=counter.value,
        other_children=others,
        counter_problem=counter.problem,
    ), session_ids


def read_counter_node(client: KazooClient, path: str) -> CounterNode:
    """The id counter znode at ``path``: missing, unreadable (NoAuth), or its value and what is wrong with it."""
    try:
        data, stat = client.get(path)
    except NoNodeError:
        return CounterNode(path, exists=False, problem="missing")
    except NoAuthError:
        return CounterNode(path, exists=True, problem="unreadable (NoAuth)")
    return CounterNode.from_data(path, data, stat.version)
