"""multiRead through kazoo, against the real ZooKeeper 3.8 server."""

from __future__ import annotations

import os
import random
import struct
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError, NoAuthError, NoNodeError
from kazoo.protocol.serialization import GetData, int_struct, multiheader_struct, stat_struct
from kazoo.security import make_digest_acl

from tests.support.zk_helpers import OpcodeUnknownToServer, create_children, create_livy_children
from zkjanitor.model import Znode
from zkjanitor.testing.zkserver import ZooKeeperServer
from zkjanitor.zk import multiread
from zkjanitor.zk.multiread import multiread_async, server_supports_multiread

TIMEOUT = 30


def plain_get(client: KazooClient, path: str) -> Znode:
    """What kazoo's own get says about ``path``, as a Znode."""
    return Znode.from_stat(path, *client.get(path))


def test_reads_match_plain_get_byte_for_byte(zk_client, parent):
    children = [
        ("text", b'{"id": 1}'),
        ("binary", bytes(range(256))),
        ("utf8", "Zürich ✓".encode()),
        ("empty", b""),
        ("changed", b"v0"),
    ]
    create_children(zk_client, parent, children)
    time.sleep(0.01)  # the sets' mtime then differs from ctime (both in milliseconds)
    zk_client.set(f"{parent}/changed", b"v1")
    zk_client.set(f"{parent}/changed", b"v2")
    paths = [f"{parent}/{name}" for name, _ in children]

    outcomes = multiread_async(zk_client, paths).get(timeout=TIMEOUT)

    assert outcomes == [plain_get(zk_client, path) for path in paths]
    assert outcomes[-1].version == 2
    assert outcomes[-1].mtime_ms > outcomes[-1].ctime_ms > 0


def test_null_data_reads_as_empty_bytes(zk_client, parent):
    zk_client.create(f"{parent}/null", None, makepath=True)

    [znode] = multiread_async(zk_client, [f"{parent}/null"]).get(timeout=TIMEOUT)

    assert znode.data == b""
    assert znode == plain_get(zk_client, f"{parent}/null")


def test_znode_deleted_after_listing_fails_alone(zk_client, parent):
    create_livy_children(zk_client, parent, 5)
    names = sorted(zk_client.get_children(parent))
    zk_client.delete(f"{parent}/2")

    outcomes = multiread_async(zk_client, [f"{parent}/{name}" for name in names]).get(
        timeout=TIMEOUT
    )

    assert isinstance(outcomes[2], NoNodeError)
    for index in (0, 1, 3, 4):
        assert outcomes[index] == plain_get(zk_client, f"{parent}/{index}")


def test_acl_protected_znode_fails_alone_with_no_auth(zk_client, parent):
    create_children(zk_client, parent, [("before", b"a"), ("after", b"b")])
    zk_client.create(f"{parent}/secret", b"s", acl=[make_digest_acl("livy", "pw", all=True)])
    paths = [f"{parent}/before", f"{parent}/secret", f"{parent}/after"]

    before, secret, after = multiread_async(zk_client, paths).get(timeout=TIMEOUT)

    assert isinstance(secret, NoAuthError)
    assert before.data == b"a" and after.data == b"b"


def test_one_megabyte_znode(zk_client, parent):
    big = os.urandom(1_000_000)
    create_children(zk_client, parent, [("small", b"s")])
    zk_client.create(f"{parent}/big", big)

    outcomes = multiread_async(zk_client, [f"{parent}/big", f"{parent}/small"]).get(timeout=TIMEOUT)

    assert outcomes[0] == plain_get(zk_client, f"{parent}/big")
    assert outcomes[0].data == big
    assert outcomes[1].data == b"s"


def test_chrooted_client_reads_paths_under_its_chroot(zk_server, zk_client, parent):
    create_children(zk_client, parent, [("1", b"one"), ("2", b"two")])
    chrooted = KazooClient(hosts=zk_server.connect_string + parent, timeout=10)
    chrooted.start(timeout=15)
    try:
        outcomes = multiread_async(chrooted, ["/1", "2", "/3"]).get(timeout=TIMEOUT)
    finally:
        chrooted.stop()
        chrooted.close()

    assert outcomes[0] == plain_get(zk_client, f"{parent}/1")._replace(path="/1")
    assert outcomes[1] == plain_get(zk_client, f"{parent}/2")._replace(path="2")
    assert isinstance(outcomes[2], NoNodeError)


def test_many_paths_in_one_request_keep_their_order(zk_client, parent):
    children = create_livy_children(zk_client, parent, 5000)
    names = list(children)
    random.Random(7).shuffle(names)

    outcomes = multiread_async(zk_client, [f"{parent}/{name}" for name in names]).get(
        timeout=TIMEOUT
    )

    assert [znode.data for znode in outcomes] == [children[name] for name in names]
    assert [znode.path for znode in outcomes] == [f"{parent}/{name}" for name in names]


def test_request_over_the_server_limit_is_refused_before_sending(zk_client, parent):
    session_id = zk_client.client_id[0]
    paths = [f"{parent}/{index:040d}" for index in range(25_000)]  # ~1.3 MB of ops

    with pytest.raises(ValueError, match="limit"):
        multiread_async(zk_client, paths)

    assert zk_client.exists("/") is not None
    assert zk_client.client_id[0] == session_id


def test_server_3_8_supports_multiread(zk_client):
    assert server_supports_multiread(zk_client) is True


@pytest.mark.timeout(60)
def test_server_without_multiread_is_detected_and_client_keeps_working(
    zk_client, parent, monkeypatch
):
    create_children(zk_client, parent, [("kept", b"data")])
    session_id = zk_client.client_id[0]
    monkeypatch.setattr(multiread, "MultiRead", OpcodeUnknownToServer)

    assert server_supports_multiread(zk_client, timeout=20) is False

    assert zk_client.connected
    assert zk_client.get(f"{parent}/kept")[0] == b"data"
    assert zk_client.client_id[0] == session_id


def test_stopped_client_is_an_error_not_an_old_server(zk_server: ZooKeeperServer):
    client = KazooClient(hosts=zk_server.connect_string, timeout=10)
    client.start(timeout=15)
    client.stop()
    try:
        with pytest.raises(ConnectionClosedError):
            server_supports_multiread(client, timeout=5)
    finally:
        client.close()


def _response(*ops: bytes, done: bool = True) -> bytes:
    """A multiRead response body as ZooKeeper frames it: each op's header and record, then the end header."""
    end = multiheader_struct.pack(-1, True, -1) if done else b""
    return b"".join(ops) + end


def _get_data_op(data: bytes, *, ctime: int, mtime: int, version: int) -> bytes:
    stat = stat_struct.pack(1, 2, ctime, mtime, version, 0, 0, 0, len(data), 0, 3)
    return multiheader_struct.pack(GetData.type, False, -1) + int_struct.pack(len(data)) + data + stat


def _error_op(code: int) -> bytes:
    return multiheader_struct.pack(-1, False, code) + int_struct.pack(code)


def test_response_decodes_znodes_and_per_op_errors_in_order():
    request = multiread.MultiRead(["/a", "/b", "/c"], ["/root/a", "/root/b", "/root/c"])
    body = _response(
        _get_data_op(b"one", ctime=10, mtime=20, version=3),
        _error_op(NoNodeError.code),
        _get_data_op(b"", ctime=30, mtime=30, version=0),
    )

    first, second, third = request.deserialize(b"xx" + body, 2)

    assert first == Znode("/a", b"one", 3, 10, 20)
    assert isinstance(second, NoNodeError)
    assert third == Znode("/c", b"", 0, 30, 30)


@pytest.mark.parametrize(
    "ops, done",
    [
        ([_get_data_op(b"x", ctime=1, mtime=1, version=0)], True),  # fewer results than ops
        ([_get_data_op(b"x", ctime=1, mtime=1, version=0)] * 3, True),  # more results than ops
        ([_error_op(NoNodeError.code)] * 2, False),  # no end header
    ],
)
def test_a_response_that_does_not_match_the_request_is_refused(ops, done):
    request = multiread.MultiRead(["/a", "/b"], ["/a", "/b"])

    with pytest.raises((ValueError, struct.error)):
        request.deserialize(_response(*ops, done=done), 0)
