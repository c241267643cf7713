"""Precedence: option > environment > config file > --livy-conf > built-in default."""

from __future__ import annotations

import json

import pytest

from tests.support.helpers import run_cli


def prefix_used(result) -> str:
    """The prefix zkjanitor looked for, read from its 'no store' error."""
    assert result.exit_code == 2, result.stderr
    marker = "no Livy state store at /"
    assert marker in result.stderr, result.stderr
    return result.stderr.split(marker, 1)[1].split(" ", 1)[0]


@pytest.fixture
def files(tmp_path, zk_server):
    livy_conf = tmp_path / "livy.conf"
    livy_conf.write_text(
        f"livy.server.recovery.mode = recovery\n"
        f"livy.server.recovery.state-store = zookeeper\n"
        f"livy.server.zookeeper.url = {zk_server.connect_string}\n"
        f"livy.server.recovery.zk-state-store.key-prefix = from-livy-conf\n"
    )
    config = tmp_path / "zkjanitor.toml"
    config.write_text(f'zk = "{zk_server.connect_string}"\nprefix = "from-config"\n')
    return livy_conf, config


def test_each_layer_overrides_the_ones_below(files, zk_server):
    livy_conf, config = files
    # built-in default ("livy") when nothing else is given
    assert prefix_used(run_cli(["scan", "--zk", zk_server.connect_string])) == "livy"
    # livy.conf supplies both the ZooKeeper URL and the prefix
    assert prefix_used(run_cli(["scan", "--livy-conf", str(livy_conf)])) == "from-livy-conf"
    # the config file beats livy.conf
    assert prefix_used(run_cli(["--config", str(config), "scan", "--livy-conf", str(livy_conf)])) == "from-config"
    # the environment beats the config file
    env = {"ZKJANITOR_PREFIX": "from-env", "ZKJANITOR_CONFIG": str(config)}
    assert prefix_used(run_cli(["scan"], env=env)) == "from-env"
    # the option beats everything
    assert prefix_used(run_cli(["scan", "--prefix", "from-option"], env=env)) == "from-option"


def test_command_tables_apply_to_their_command_only(tmp_path, zk_server):
    config = tmp_path / "zkjanitor.toml"
    config.write_text(f'zk = "{zk_server.connect_string}"\n[check]\nprefix = "check-only"\nmax-sessions = 5\n')
    assert prefix_used(run_cli(["--config", str(config), "check"])) == "check-only"
    assert prefix_used(run_cli(["--config", str(config), "scan"])) == "livy"


@pytest.mark.parametrize(
    "text, message",
    [
        ('zk = "h:1"\nbogus = 1\n', "unknown setting 'bogus'"),
        ('[scan]\nmax-sessions = 1\n', "unknown setting 'max-sessions' in [scan]"),
        ('[nonsense]\nzk = "h:1"\n', "unknown section [nonsense]"),
        ('zk = \n', "not valid TOML"),
        ('yarn = 8088\n', 'bad.toml: yarn must be a string or a list of strings, e.g. yarn = ["http://rm1:8088"]'),
        ('yarn = ["http://rm1:8088", 2]\n', "bad.toml: yarn must be a string or a list of strings"),
    ],
)
def test_bad_config_files_are_rejected_clearly(tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = run_cli(["--config", str(config), "scan"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = run_cli(["--config", str(tmp_path / "nope.toml"), "scan"])
    assert result.exit_code == 2
    assert "config file not found" in result.stderr


def test_one_url_in_the_config_file_is_a_list_of_one(tmp_path, zk_server, yarn_rm):
    config = tmp_path / "zkjanitor.toml"
    config.write_text(f'zk = "{zk_server.connect_string}"\nyarn = "{yarn_rm.url}"\n')
    result = run_cli(["--config", str(config), "doctor", "--format", "json"])
    assert "Value must be an iterable" not in result.stderr  # what it said before
    findings = json.loads(result.stdout)["findings"]
    assert any(f["setting"] == "yarn" and f["value"] == yarn_rm.url for f in findings)
