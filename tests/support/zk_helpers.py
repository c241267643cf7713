"""Fill and empty real ZooKeeper trees quickly, for tests of the ZooKeeper readers."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from zkjanitor.zk import multiread

# 500 creates of ~300 B (or 500 deletes) stay far below the server's 1 MB request limit.
_OPS_PER_TRANSACTION = 500


def livy_like_data(index: int) -> bytes:
    """About 300 bytes of Livy-like JSON, distinct per index."""
    return (
        f'{{"id":{index},"appTag":"livy-batch-{index}-qk3hz0pa",'
        f'"appId":"application_1708412345678_{index:05d}","owner":"adfuser",'
        f'"proxyUser":null,"state":"dead","kind":"pyspark","name":"nightly-{index}",'
        f'"appInfo":{{"driverLogUrl":null,"sparkUiUrl":null}},"livyVersion":"0.7.1",'
        f'"padding":"{"p" * 60}"}}'
    ).encode()


def create_children(
    client: KazooClient, parent: str, children: Sequence[Tuple[str, bytes]]
) -> None:
    """Create ``parent`` (with its ancestors) and the given ``(name, data)`` children."""
    client.ensure_path(parent)
    commits = []
    for start in range(0, len(children), _OPS_PER_TRANSACTION):
        transaction = client.transaction()
        for name, data in children[start : start + _OPS_PER_TRANSACTION]:
            transaction.create(f"{parent}/{name}", data)
        commits.append(transaction.commit_async())
    for commit in commits:
        results = commit.get(timeout=60)
        failures = [result for result in results if isinstance(result, Exception)]
        assert not failures, f"creating test znodes failed: {failures[:3]}"


def create_livy_children(client: KazooClient, parent: str, count: int) -> Dict[str, bytes]:
    """Create ``count`` children named 0..count-1 with :func:`livy_like_data`; return them."""
    children = {str(index): livy_like_data(index) for index in range(count)}
    create_children(client, parent, list(children.items()))
    return children


def remove_test_tree(client: KazooClient, parent: str) -> None:
    """Delete the tree holding ``parent``: its top-level znode and everything below.

    ``parent``'s (leaf) children go in transactions first, as kazoo's recursive
    delete would take seconds for thousands of them.
    """
    try:
        names: List[str] = client.get_children(parent)
    except NoNodeError:
        names = []
    commits = []
    for start in range(0, len(names), _OPS_PER_TRANSACTION):
        transaction = client.transaction()
        for name in names[start : start + _OPS_PER_TRANSACTION]:
            transaction.delete(f"{parent}/{name}")
        commits.append(transaction.commit_async())
    for commit in commits:
        commit.get(timeout=60)
    top = "/" + parent.strip("/").split("/")[0]
    client.delete(top, recursive=True)


class OpcodeUnknownToServer(multiread.MultiRead):
    """A MultiRead with an opcode ZooKeeper 3.8 does not know.

    3.8 answers it exactly as 3.4/3.5 answer multiRead (UnimplementedError,
    then it closes the connection), so the old-server path runs against the
    real server.
    """

    type = 9999
    __slots__ = ()
