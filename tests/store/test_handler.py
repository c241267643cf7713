"""zk/handler.py: poll_select keeps select.select's contract, and kazoo runs on it against a real ZooKeeper."""

from __future__ import annotations

import os
import socket
import time

import pytest
from kazoo.client import KazooClient

from zkjanitor.zk.client import ZkOptions, connected
from zkjanitor.zk.handler import PollingHandler, poll_select
from zkjanitor.zk.reader import read_children


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def test_nothing_ready_times_out_with_empty_lists(pair):
    left, _ = pair
    started = time.monotonic()
    assert poll_select([left], [], [], 0.05) == ([], [], [])
    assert time.monotonic() - started >= 0.04


def test_readable_and_writable_objects_are_returned_as_given(pair):
    left, right = pair
    right.sendall(b"x")
    assert poll_select([left, right], [], [], 1.0) == ([left], [], [])
    assert poll_select([], [left], [], 1.0) == ([], [left], [])
    assert poll_select([left.fileno()], [right], [], 1.0) == ([left.fileno()], [right], [])


def test_one_object_in_both_lists_is_reported_in_each_that_is_ready(pair):
    left, right = pair
    assert poll_select([left], [left], [], 1.0) == ([], [left], [])
    right.sendall(b"x")
    assert poll_select([left], [left], [], 1.0) == ([left], [left], [])


def test_a_hang_up_is_ready_so_the_next_recv_reports_it(pair):
    left, right = pair
    right.close()
    readable, _, _ = poll_select([left], [], [], 1.0)
    assert readable == [left]
    assert left.recv(1) == b""


def test_xlist_is_never_reported(pair):
    left, right = pair
    right.sendall(b"x")
    assert poll_select([left], [], [left], 1.0)[2] == []


def test_bad_arguments_fail_as_select_does(pair):
    left, _ = pair
    with pytest.raises(ValueError):
        poll_select([left], [], [], -1)
    with pytest.raises(TypeError):
        poll_select([left], [], [], "1")
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError):
        poll_select([closed], [], [], 0)


def test_a_descriptor_closed_behind_the_objects_back_is_ebadf():
    left, right = socket.socketpair()
    fd = left.detach()
    right.close()
    os.close(fd)
    with pytest.raises(OSError):
        poll_select([fd], [], [], 0.1)


def test_zkjanitor_clients_use_it(zk_server):
    with connected(ZkOptions(connect=zk_server.connect_string, timeout=10)) as client:
        assert isinstance(client.handler, PollingHandler)


def test_kazoo_reads_pipelined_on_it_exactly_as_on_its_own_handler(zk_server, zk_client, parent):
    names = [str(i) for i in range(300)]
    for name in names:
        zk_client.create(f"{parent}/{name}", f"data-{name}".encode(), makepath=True)
    ours = KazooClient(hosts=zk_server.connect_string, handler=PollingHandler())
    ours.start(timeout=10)
    try:
        got = read_children(ours, parent, names, method="pipelined")
        expected = read_children(zk_client, parent, names, method="pipelined")
    finally:
        ours.stop()
        ours.close()
    assert got.method == "pipelined"
    assert [(z.path, z.data, z.version) for z in got.znodes] == [(z.path, z.data, z.version) for z in expected.znodes]
    assert len(got.znodes) == 300
