"""Reading all children of a parent, by multiRead and by pipelined gets, on the real server."""

from __future__ import annotations

import random
import threading
from typing import List

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_digest_acl

from tests.support.zk_helpers import OpcodeUnknownToServer, create_children, create_livy_children
from zkjanitor.model import Znode
from zkjanitor.zk import multiread
from zkjanitor.zk.reader import ReadMethod, read_children

BOTH_METHODS = [ReadMethod.MULTIREAD.value, ReadMethod.PIPELINED.value]


def expected_znodes(client: KazooClient, parent: str, names: List[str]) -> List[Znode]:
    """What plain, one-by-one ``get`` calls see for these children."""
    znodes = []
    for name in names:
        data, stat = client.get(f"{parent}/{name}")
        znodes.append(Znode(f"{parent}/{name}", data or b"", stat.version, stat.ctime, stat.mtime))
    return znodes


def started_client(connect_string: str) -> KazooClient:
    client = KazooClient(hosts=connect_string, timeout=10)
    client.start(timeout=15)
    return client


@pytest.mark.parametrize("method", BOTH_METHODS)
def test_reads_every_child_like_plain_get(zk_client, parent, method):
    create_livy_children(zk_client, parent, 250)
    create_children(zk_client, parent, [("empty", b""), ("binary", bytes(range(256)))])
    zk_client.set(f"{parent}/7", b"changed")
    names = zk_client.get_children(parent)

    result = read_children(zk_client, parent, names, method=method, batch_size=64, max_in_flight=3)

    assert result.znodes == expected_znodes(zk_client, parent, names)
    assert result.gone == [] and result.errors == []
    assert result.method == method


def test_both_methods_give_identical_results(zk_client, parent):
    create_livy_children(zk_client, parent, 500)
    names = zk_client.get_children(parent)

    by_multiread = read_children(zk_client, parent, names, method="multiread")
    pipelined = read_children(zk_client, parent, names, method="pipelined")

    assert by_multiread.znodes == pipelined.znodes
    assert len(by_multiread.znodes) == 500


@pytest.mark.parametrize("method", BOTH_METHODS)
def test_input_order_is_kept(zk_client, parent, method):
    children = create_livy_children(zk_client, parent, 300)
    names = list(children)
    random.Random(3).shuffle(names)

    result = read_children(zk_client, parent, names, method=method, batch_size=7, max_in_flight=2)

    assert [znode.path for znode in result.znodes] == [f"{parent}/{name}" for name in names]
    assert [znode.data for znode in result.znodes] == [children[name] for name in names]


@pytest.mark.parametrize("method", BOTH_METHODS)
def test_deleted_and_refused_znodes_are_reported_not_fatal(zk_client, parent, method):
    create_livy_children(zk_client, parent, 100)
    zk_client.create(f"{parent}/secret", b"s", acl=[make_digest_acl("livy", "pw", all=True)])
    names = zk_client.get_children(parent)
    zk_client.delete(f"{parent}/42")

    result = read_children(zk_client, parent, names, method=method, batch_size=10)

    assert result.gone == [f"{parent}/42"]
    assert result.errors == [(f"{parent}/secret", "NoAuth")]
    assert len(result.znodes) == len(names) - 2
    readable = [name for name in names if name not in ("42", "secret")]
    assert result.znodes == expected_znodes(zk_client, parent, readable)


@pytest.mark.parametrize("method", BOTH_METHODS)
def test_progress_counts_up_to_the_total_once_per_batch(zk_client, parent, method):
    create_livy_children(zk_client, parent, 1050)
    names = zk_client.get_children(parent)
    seen: List[int] = []

    read_children(zk_client, parent, names, method=method, batch_size=100, progress=seen.append)

    assert seen == [100 * step for step in range(1, 11)] + [1050]


@pytest.mark.parametrize("method", BOTH_METHODS)
def test_a_sink_gets_every_znode_in_order_a_batch_at_a_time(zk_client, parent, method):
    create_livy_children(zk_client, parent, 250)
    names = zk_client.get_children(parent)
    batches: List[List[Znode]] = []

    result = read_children(zk_client, parent, names, method=method, batch_size=64, sink=batches.append)

    assert result.znodes == []
    assert [len(batch) for batch in batches] == [64, 64, 64, 58]
    assert [znode for batch in batches for znode in batch] == expected_znodes(zk_client, parent, names)


def test_auto_uses_multiread_on_a_3_8_server(zk_client, parent):
    create_livy_children(zk_client, parent, 10)

    result = read_children(zk_client, parent, [str(index) for index in range(10)])

    assert result.method == "multiread"
    assert len(result.znodes) == 10


@pytest.mark.timeout(60)
def test_auto_falls_back_to_pipelined_and_remembers_per_client(
    zk_server, zk_client, parent, monkeypatch
):
    children = create_livy_children(zk_client, parent, 50)
    names = list(children)
    client = started_client(zk_server.connect_string)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(multiread, "MultiRead", OpcodeUnknownToServer)
            fallback = read_children(client, parent, names)
        again = read_children(client, parent, names)
    finally:
        client.stop()
        client.close()
    fresh_client = read_children(zk_client, parent, names)

    assert fallback.method == "pipelined"
    assert [znode.data for znode in fallback.znodes] == [children[name] for name in names]
    assert again.method == "pipelined"  # the probe's answer is kept for that client
    assert fresh_client.method == "multiread"


def test_forced_pipelined_skips_the_probe(zk_client, parent, monkeypatch):
    create_livy_children(zk_client, parent, 5)
    monkeypatch.setattr(multiread, "MultiRead", OpcodeUnknownToServer)
    session_id = zk_client.client_id[0]

    result = read_children(zk_client, parent, ["0", "1", "2", "3", "4"], method="pipelined")

    assert result.method == "pipelined" and len(result.znodes) == 5
    assert zk_client.client_id[0] == session_id


def test_unknown_method_and_bad_sizes_are_refused(zk_client, parent):
    with pytest.raises(ValueError):
        read_children(zk_client, parent, ["1"], method="parallel")
    with pytest.raises(ValueError):
        read_children(zk_client, parent, ["1"], batch_size=0)
    with pytest.raises(ValueError):
        read_children(zk_client, parent, ["1"], max_in_flight=0)


def test_no_names_reads_nothing(zk_client, parent):
    assert read_children(zk_client, parent, [], method="multiread").znodes == []


@pytest.mark.parametrize(
    "method",
    [ReadMethod.MULTIREAD.value, pytest.param(ReadMethod.PIPELINED.value, marks=pytest.mark.slow)],
)
def test_twenty_thousand_children(zk_client, parent, method):
    children = create_livy_children(zk_client, parent, 20_000)
    names = zk_client.get_children(parent)

    result = read_children(zk_client, parent, names, method=method)

    assert len(result.znodes) == 20_000
    assert all(znode.data == children[name] for znode, name in zip(result.znodes, names))
    assert result.gone == [] and result.errors == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", BOTH_METHODS)
def test_client_stopped_mid_read_raises_a_kazoo_error(zk_server, zk_client, parent, method):
    create_livy_children(zk_client, parent, 3000)
    names = zk_client.get_children(parent)
    client = started_client(zk_server.connect_string)
    stopper = threading.Thread(target=client.stop)
    seen: List[int] = []

    def stop_after_first_batch(finished: int) -> None:
        seen.append(finished)
        if len(seen) == 1:
            stopper.start()
            stopper.join(timeout=20)

    try:
        with pytest.raises(KazooException):
            read_children(
                client,
                parent,
                names,
                method=method,
                batch_size=100,
                max_in_flight=2,
                progress=stop_after_first_batch,
            )
    finally:
        client.stop()
        client.close()
    assert seen[0] == 100
    assert seen[-1] < len(names)
