"""Reading livy.conf: Java Properties syntax, Livy's key fallbacks and defaults, file errors."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from tests.support.paths import DATA
from zkjanitor import livyconf
from zkjanitor.errors import ConfigError
from zkjanitor.livyconf import InvalidTimeSetting, LivyConf, load_livy_conf, parse_properties

LIVY_CONFS = DATA / "livy-conf"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", {"a": "b"}),
        ("a = b", {"a": "b"}),
        ("a: b", {"a": "b"}),
        ("a b", {"a": "b"}),
        ("a\t\f=\t b", {"a": "b"}),
        ("   a=b", {"a": "b"}),
        ("a=b  ", {"a": "b  "}),
        ("a", {"a": ""}),
        ("a=", {"a": ""}),
        ("a = = b", {"a": "= b"}),
        ("a b=c", {"a": "b=c"}),
        ("a:b:c", {"a": "b:c"}),
        ("# a=b\n! c=d\n  # e=f", {}),
        ("a=b # not a comment", {"a": "b # not a comment"}),
        ("\n\n  \t\na=b\n\n", {"a": "b"}),
        ("a=1\na=2", {"a": "2"}),
        ("a=one,\\\n    two", {"a": "one,two"}),
        ("a=one\\\n#two", {"a": "one#two"}),
        ("a=x\\\n\nb=y", {"a": "x", "b": "y"}),
        ("a=x\\\\\nb=y", {"a": "x\\", "b": "y"}),
        ("a=x\\", {"a": "x"}),
        ("a=1\r\nb=2\rc=3", {"a": "1", "b": "2", "c": "3"}),
        ("a=one\\\r\n  two", {"a": "onetwo"}),
        ("\\\n# still a comment\na=b", {"a": "b"}),
        ("k\\=1=v", {"k=1": "v"}),
        ("k\\:1:v", {"k:1": "v"}),
        ("k\\ 1 v", {"k 1": "v"}),
        ("a=\\t\\n\\r\\f\\\\", {"a": "\t\n\r\f\\"}),
        ("a=\\q\\#", {"a": "q#"}),
        ("a=\\u0041\\u00e9", {"a": "Aé"}),
        ("a=\\uD83D\\uDE00", {"a": "\U0001f600"}),
        ("a=é", {"a": "é"}),
        ("a=1\x0bb", {"a": "1\x0bb"}),
    ],
)
def test_parse_properties_follows_java(text: str, expected: Dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize("text", ["a=\\u00", "a=\\uZZZZ", "ok=1\n\nbad\\u12=x"])
def test_parse_properties_rejects_malformed_unicode_escape(text: str) -> None:
    with pytest.raises(ValueError, match=r"malformed \\uxxxx"):
        parse_properties(text)


def test_parse_properties_names_the_line_of_a_bad_escape() -> None:
    with pytest.raises(ValueError, match="line 3"):
        parse_properties("ok=1\n\nbad\\u12=x")


def livy(settings: Dict[str, str]) -> LivyConf:
    """A LivyConf built in memory, as if loaded from a file."""
    return LivyConf(dict(settings))


def test_defaults_when_the_file_sets_nothing() -> None:
    empty = livy({})
    assert empty.recovery_mode == "off"
    assert empty.state_store is None
    assert empty.zookeeper_url is None
    assert empty.key_prefix == "livy"
    assert empty.zk_retry_policy == "5,100"
    assert empty.session_timeout_ms == 3_600_000
    assert empty.state_retain_ms == 600_000
    assert empty.app_lookup_timeout_ms == 120_000
    assert empty.invalid_time_settings == []
    assert empty.get("livy.server.recovery.mode") is None


def test_new_zookeeper_url_key_wins_over_the_legacy_key() -> None:
    settings = livy(
        {
            "livy.server.zookeeper.url": " zk-new:2181 ",
            "livy.server.recovery.state-store.url": "zk-old:2181",
        }
    )
    assert settings.zookeeper_url == "zk-new:2181"


def test_legacy_state_store_url_is_the_zookeeper_url_before_livy_0_8() -> None:
    settings = livy(
        {
            "livy.server.recovery.state-store": "zookeeper",
            "livy.server.recovery.state-store.url": "zk1:2181,zk2:2181/livy-chroot",
        }
    )
    assert settings.zookeeper_url == "zk1:2181,zk2:2181/livy-chroot"


def test_empty_new_key_hides_the_legacy_url_as_in_livy() -> None:
    settings = livy(
        {
            "livy.server.zookeeper.url": "",
            "livy.server.recovery.state-store.url": "zk-old:2181",
        }
    )
    assert settings.zookeeper_url is None


@pytest.mark.parametrize(
    "settings",
    [
        {
            "livy.server.recovery.state-store": "filesystem",
            "livy.server.recovery.state-store.url": "zk:2181",
        },
        {"livy.server.recovery.state-store.url": "hdfs:///livy-recovery"},
        {"livy.server.recovery.state-store.url": "file:///tmp/livy"},
        {"livy.server.recovery.state-store.url": "   "},
    ],
)
def test_filesystem_or_blank_url_is_not_a_zookeeper_url(settings: Dict[str, str]) -> None:
    assert livy(settings).zookeeper_url is None


def test_new_retry_policy_key_wins_even_when_empty() -> None:
    both = {
        "livy.server.zk.retry-policy": "",
        "livy.server.recovery.zk-state-store.retry-policy": "3,200",
    }
    assert livy(both).zk_retry_policy == ""
    assert (
        livy({"livy.server.recovery.zk-state-store.retry-policy": "3,200"}).zk_retry_policy
        == "3,200"
    )


def test_time_settings_use_livys_units() -> None:
    settings = livy(
        {
            "livy.server.session.timeout": "24d",
            "livy.server.session.state-retain.sec": "600",
            "livy.server.yarn.app-lookup-timeout": "2min",
        }
    )
    assert settings.session_timeout_ms == 24 * 86_400_000
    assert settings.state_retain_ms == 600
    assert settings.app_lookup_timeout_ms == 120_000


def test_malformed_time_is_listed_and_raises_only_when_used() -> None:
    settings = LivyConf(
        {"livy.server.session.timeout": "1 day", "livy.server.yarn.poll-interval": "5w"},
        "/etc/livy.conf",
    )
    assert settings.invalid_time_settings == [
        InvalidTimeSetting("livy.server.session.timeout", "1 day", "Invalid time string: 1 day"),
        InvalidTimeSetting("livy.server.yarn.poll-interval", "5w", 'Invalid suffix: "w"'),
    ]
    with pytest.raises(
        ConfigError, match=r"livy.server.session.timeout = '1 day' in /etc/livy.conf"
    ):
        _ = settings.session_timeout_ms
    assert settings.state_retain_ms == 600_000


def test_load_trims_values_as_livy_does(tmp_path: Path) -> None:
    path = tmp_path / "livy.conf"
    path.write_text("livy.server.recovery.mode = recovery   \nlivy.server.session.timeout = 2h\t\n")
    loaded = load_livy_conf(path)
    assert loaded.recovery_mode == "recovery"
    assert loaded.session_timeout_ms == 7_200_000
    assert loaded.source == str(path)


def test_load_does_not_fail_on_malformed_time(tmp_path: Path) -> None:
    path = tmp_path / "livy.conf"
    path.write_text("livy.server.session.state-retain.sec = ten minutes\n")
    assert [bad.key for bad in load_livy_conf(path).invalid_time_settings] == [
        "livy.server.session.state-retain.sec"
    ]


def test_load_reads_non_utf8_bytes_as_livy_does(tmp_path: Path) -> None:
    path = tmp_path / "livy.conf"
    latin1 = "# Verf\xfcgbarkeit\nlivy.server.session.timeout = 3h\nlivy.x = caf\xe9\n"
    path.write_bytes(latin1.encode("latin-1"))
    loaded = load_livy_conf(path)
    assert loaded.session_timeout_ms == 3 * 3_600_000
    assert loaded.get("livy.x") == "caf\ufffd"


def test_load_keeps_a_byte_order_mark_in_the_first_key_as_java_does(tmp_path: Path) -> None:
    path = tmp_path / "livy.conf"
    path.write_bytes(b"\xef\xbb\xbflivy.server.recovery.mode = recovery\n")
    assert load_livy_conf(path).recovery_mode == "off"


def test_load_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "livy.conf"
    with pytest.raises(ConfigError) as raised:
        load_livy_conf(missing)
    assert (
        str(raised.value)
        == f"livy.conf not found: {missing} (check --livy-conf or ZKJANITOR_LIVY_CONF)"
    )


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_livy_conf(tmp_path)


def test_load_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "livy.conf"
    path.write_text("livy.server.recovery.mode = recovery\n")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(livyconf, "open", refuse, raising=False)
    with pytest.raises(ConfigError, match="not readable"):
        load_livy_conf(path)


def test_load_malformed_escape_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "livy.conf"
    path.write_text("livy.server.recovery.mode = recovery\nlivy.x = C:\\users\\me\n")
    with pytest.raises(ConfigError, match=r"line 2: malformed \\uxxxx escape"):
        load_livy_conf(path)


def test_sample_healthy_conf() -> None:
    loaded = load_livy_conf(LIVY_CONFS / "healthy.conf")
    assert loaded.recovery_mode == "recovery"
    assert loaded.state_store == "zookeeper"
    assert (
        loaded.zookeeper_url
        == "zk1.example.internal:2181,zk2.example.internal:2181,zk3.example.internal:2181"
    )
    assert loaded.key_prefix == "livy-analytics"
    assert loaded.session_timeout_ms == 2 * 3_600_000


def test_sample_incident_conf() -> None:
    loaded = load_livy_conf(LIVY_CONFS / "incident-40k.conf")
    assert loaded.zookeeper_url == "zk0-cluster:2181,zk1-cluster:2181,zk2-cluster:2181"
    assert loaded.key_prefix == "livy"
    assert loaded.session_timeout_ms == 24 * 86_400_000
    assert loaded.state_retain_ms == 600
