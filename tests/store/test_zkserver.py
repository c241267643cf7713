"""The harness itself: the old server's znodes really look old."""

import time

from tests.conftest import OLD_SERVER_OFFSET_DAYS


def test_old_server_stamps_znodes_in_the_past(old_zk_client, prefix):
    old_zk_client.create(f"/{prefix}/x", b"", makepath=True)
    _, stat = old_zk_client.get(f"/{prefix}/x")
    age_days = (time.time() - stat.created) / 86400
    assert abs(age_days - OLD_SERVER_OFFSET_DAYS) < 0.1


def test_normal_server_stamps_znodes_now(zk_client, prefix):
    zk_client.create(f"/{prefix}/x", b"", makepath=True)
    _, stat = zk_client.get(f"/{prefix}/x")
    assert abs(time.time() - stat.created) < 60
