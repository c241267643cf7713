"""The compatibility harness itself: the ZooKeeper version cache and the throwaway KDC."""

from __future__ import annotations

import socket

import pytest

from zkjanitor.testing import zkversions
from zkjanitor.testing.kdc import MitKdc


def test_a_fetched_version_keeps_only_the_jars_it_needs():
    release = zkversions.distribution("3.4.6")
    directory = release.classpath[0].parent
    assert {path.suffix for path in directory.iterdir()} <= {".jar", ".properties", ".txt"}
    assert not list(zkversions.cache_root().rglob("*.tar.gz")), "the PySpark sdist must be deleted"
    assert sum(path.stat().st_size for path in directory.iterdir()) < 10 * 1024 * 1024
    assert {path.name for path in release.classpath} == {
        "zookeeper-3.4.6.jar", "log4j-1.2.17.jar", "slf4j-api-1.7.16.jar", "slf4j-log4j12-1.7.16.jar"}


def test_the_matrix_can_be_narrowed_and_a_typo_is_one_clear_error():
    assert zkversions.matrix({}) == ("3.4.6", "3.6.3", "debian", "3.9.3")
    assert zkversions.matrix({zkversions.VERSIONS_ENV: " 3.9.3, debian"}) == ("3.9.3", "debian")
    with pytest.raises(zkversions.ZooKeeperVersionError) as caught:
        zkversions.matrix({zkversions.VERSIONS_ENV: "3.5.0"})
    assert str(caught.value) == (
        "ZKJANITOR_ZK_VERSIONS: unknown ZooKeeper version '3.5.0'; known: debian, 3.4.6, 3.6.3, 3.9.3"
    )


def test_the_cache_location_follows_the_environment(tmp_path):
    assert zkversions.cache_root({zkversions.CACHE_ENV: str(tmp_path)}) == tmp_path
    assert zkversions.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "zkjanitor" / "zookeeper"


def test_a_kdc_stops_and_leaves_nothing_behind():
    kdc = MitKdc().start()
    directory, port = kdc.directory, kdc.port
    assert kdc.add_principal("probe") == "probe@ZKJANITOR.TEST"
    kdc.cleanup()
    assert not directory.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
