"""The prune lock: one prune per state store, freed when its holder ends or dies."""

from __future__ import annotations

import os
import re
import socket

import pytest
from kazoo.client import KazooClient

from zkjanitor.errors import EXIT_LOCKED, LockHeld
from zkjanitor.zk.lock import default_identifier, lock_path, prune_lock


@pytest.fixture
def other_client(zk_server):
    """A second process's connection (its own ZooKeeper session)."""
    client = KazooClient(
        hosts=zk_server.connect_string,
        connection_retry={"max_tries": 3, "delay": 0.1},
        command_retry={"max_tries": 3, "delay": 0.1},
    )
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


def test_a_second_prune_is_refused_with_the_holder_named(zk_client, other_client, prefix):
    holder = "alice@edge1 pid 42 started 2024-01-01T00:00:00Z"
    first = prune_lock(zk_client, prefix, identifier=holder)
    second = prune_lock(other_client, prefix, identifier="bob@edge2 pid 7")
    with first, pytest.raises(LockHeld) as raised, second:
        pytest.fail("the second prune must not get the lock")
    message = str(raised.value)
    assert re.match(
        rf"another prune holds the lock for /{prefix} since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ: "
        r"alice@edge1 pid 42 started 2024-01-01T00:00:00Z; it is released when that run ends "
        r"\(if it was killed or lost ZooKeeper, when its ZooKeeper session expires\)$",
        message,
    ), message
    assert raised.value.exit_code == EXIT_LOCKED


def test_the_lock_is_free_again_after_the_holder_finishes(zk_client, other_client, prefix):
    with prune_lock(zk_client, prefix, identifier="first"):
        pass
    with prune_lock(other_client, prefix, identifier="second"):
        assert other_client.get_children(lock_path(prefix)) != []


def test_a_lock_under_a_prefix_that_does_not_exist_leaves_nothing_behind(zk_client, prefix):
    wrong = f"{prefix}-typo/livy"
    with prune_lock(zk_client, wrong, identifier="a wrong --prefix"):
        assert zk_client.exists(f"/{prefix}-typo/livy") is not None  # the lock needs its parents meanwhile
    assert zk_client.exists(f"/{prefix}-typo") is None


def test_the_parents_a_lock_made_stay_when_something_was_put_in_them(zk_client, prefix):
    store = f"{prefix}-new"
    with prune_lock(zk_client, store, identifier="a restore into a store that was deleted"):
        zk_client.create(f"/{store}/v1/batch/0", b"{}", makepath=True)
    assert zk_client.exists(f"/{store}/v1/batch/0") is not None
    assert zk_client.exists(lock_path(store)) is None


def test_a_holder_that_dies_frees_the_lock(zk_server, other_client, prefix):
    doomed = KazooClient(hosts=zk_server.connect_string, connection_retry={"max_tries": 1})
    doomed.start(timeout=15)
    held = prune_lock(doomed, prefix, identifier="crashing run")
    held.__enter__()
    doomed.stop()  # its session ends without releasing, as when the process dies
    doomed.close()
    with prune_lock(other_client, prefix, identifier="next run"):
        pass


def test_the_lock_lives_beside_livys_v1_and_prefixes_do_not_share_it(zk_client, other_client, prefix):
    with prune_lock(zk_client, prefix, identifier="a"):
        with prune_lock(other_client, prefix + "2", identifier="b"):
            pass
        assert lock_path(prefix) == f"/{prefix}/zkjanitor-lock"
        assert zk_client.exists(f"/{prefix}/v1") is None  # nothing in Livy's own tree


def test_one_store_is_one_lock_however_it_is_named(zk_server, zk_client, prefix):
    """``--zk host/ch --prefix livy`` and ``--zk host --prefix ch/livy`` are the same store."""
    chroot, inner = prefix.split("/", 1)
    zk_client.ensure_path(f"/{chroot}")
    through_chroot = KazooClient(hosts=f"{zk_server.connect_string}/{chroot}")
    through_chroot.start(timeout=15)
    try:
        with prune_lock(through_chroot, inner, identifier="named with a chroot"):
            with pytest.raises(LockHeld) as raised:
                with prune_lock(zk_client, prefix, identifier="named without"):
                    pass
            assert f"another prune holds the lock for /{prefix} since" in str(raised.value)
        with prune_lock(zk_client, prefix, identifier="named without"):
            with pytest.raises(LockHeld):
                with prune_lock(through_chroot, inner, identifier="named with a chroot"):
                    pass
    finally:
        through_chroot.stop()
        through_chroot.close()


def test_the_default_identifier_says_who_where_and_since_when():
    identifier = default_identifier()
    assert f"@{socket.gethostname()} pid {os.getpid()} started " in identifier
    assert re.search(r"started \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", identifier)
