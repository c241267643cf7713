"""Secrets never reach the output."""

from __future__ import annotations

import pytest

from tests.support.livy_records import RSC_CLIENT_ID, RSC_SECRET, RSC_URI
from zkjanitor.redact import (
    REDACTED,
    redact_secrets,
    redact_uri,
    redact_url_credentials,
)


def test_rsc_driver_uri_keeps_scheme_host_and_port_only():
    redacted = redact_uri(RSC_URI)
    assert redacted == "rsc://***@10.1.2.3:39127"
    assert RSC_SECRET not in redacted and RSC_CLIENT_ID not in redacted


@pytest.mark.parametrize(
    "uri, expected",
    [
        (None, None),
        ("", ""),
        ("rsc://10.1.2.3:39127", "rsc://10.1.2.3:39127"),
        ("rsc://only-secret@host:1", "rsc://***@host:1"),
        ("rsc://@host:1", "rsc://***@host:1"),
        ("rsc://id:se@cr@et@host:1", "rsc://***@host:1"),
        ("rsc://id:se/cr?et@host:1", "rsc://***@host:1"),
        ("rsc://id:se://cret@host:1", "rsc://***@host:1"),
        ("id:secret@host:1", "***@host:1"),
        ("id:se://cret@host:1", "***@host:1"),
        ("rsc://c:s@[fe80::1]:39127", "rsc://***@[fe80::1]:39127"),
        ("not a uri", "not a uri"),
        ("@", "***@"),
    ],
)
def test_uri_userinfo_is_hidden_whatever_the_shape(uri, expected):
    assert redact_uri(uri) == expected


def test_a_uri_that_is_not_a_string_is_hidden_whole():
    assert redact_uri(12345) == REDACTED  # type: ignore[arg-type]


def test_secrets_in_a_message_are_hidden():
    message = "401 for http://rm1:8088 (user etl, password s3cr3t): retrying with s3cr3t"
    assert redact_secrets(message, ["s3cr3t", "", None]) == (
        "401 for http://rm1:8088 (user etl, password ***): retrying with ***"
    )


def test_a_secret_containing_another_is_hidden_whole():
    assert redact_secrets("token=abcdef", ["abc", "abcdef"]) == "token=***"
    assert redact_secrets("token=abcdef", ["abcdef", "abc"]) == "token=***"


def test_secrets_are_matched_literally_not_as_patterns():
    assert redact_secrets("pw=a.b+c* and axb", ["a.b+c*"]) == "pw=*** and axb"


@pytest.mark.parametrize("secrets", [[], ["", None], iter(())])
def test_no_secrets_leave_the_text_alone(secrets):
    assert redact_secrets("nothing to hide", secrets) == "nothing to hide"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://admin:s3cr3t@rm1:8088", "http://rm1:8088"),
        ("https://admin:s3cr3t@rm1:8090/ws/v1/cluster", "https://rm1:8090/ws/v1/cluster"),
        ("HTTPS://token@rm1", "HTTPS://rm1"),
        ("http://a:p@ss@rm1:8088/x", "http://rm1:8088/x"),
        ("http://a:b@rm1:8088,http://c:d@rm2:8088", "http://rm1:8088,http://rm2:8088"),
        ("http://rm1:8088/path@x?q=a@b", "http://rm1:8088/path@x?q=a@b"),
        ("http://rm1:8088", "http://rm1:8088"),
        ("user:pw@zk1:2181", "zk1:2181"),
        ("digest:user:pw@zk1:2181,zk2:2181/livy@ha", "zk1:2181,zk2:2181/livy@ha"),
        ("u:p@zk1:2181,u:p@zk2:2181", "zk1:2181,zk2:2181"),
        ("digest:u:p@ss@zk1:2181", "zk1:2181"),
        ("zk1:2181,zk2:2181/chroot", "zk1:2181,zk2:2181/chroot"),
        ("", ""),
    ],
)
def test_url_and_connect_string_credentials_are_removed(url, expected):
    assert redact_url_credentials(url) == expected
