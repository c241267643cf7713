"""Small helpers shared by the CLI tests."""

from __future__ import annotations

import time
from typing import Mapping, Optional, Sequence

from click.testing import CliRunner, Result

from zkjanitor.cli import cli
from zkjanitor.testing.seeder import build_scenario
from zkjanitor.testing.seeder import seed as seed_znodes  # seed_scenario has a `seed` argument (the RNG seed)
from zkjanitor.testing.zkserver import free_port

# Variables that would leak the developer's own setup into a test run.
_ISOLATED_ENV = {
    name: None
    for name in (
        "ZKJANITOR_ZK", "ZKJANITOR_PREFIX", "ZKJANITOR_YARN", "ZKJANITOR_LIVY_CONF", "ZKJANITOR_METRICS_FILE",
        "ZKJANITOR_CONFIG", "ZKJANITOR_YARN_AUTH", "ZKJANITOR_YARN_USER", "ZKJANITOR_YARN_PASSWORD",
        "ZKJANITOR_ZK_AUTH", "ZKJANITOR_ZK_AUTH_FILE", "ZKJANITOR_ZK_PASSWORD", "ZKJANITOR_ZK_SASL",
        "ZKJANITOR_ZK_SASL_USER", "ZKJANITOR_ZK_SASL_SERVICE", "ZKJANITOR_ZK_SASL_PRINCIPAL", "ZKJANITOR_ZK_TLS",
        "ZKJANITOR_ZK_CA", "ZKJANITOR_ZK_CERT", "ZKJANITOR_ZK_KEY", "ZKJANITOR_ZK_KEY_PASSWORD_FILE",
        "ZKJANITOR_ZK_TLS_NO_VERIFY", "ZKJANITOR_LIVY", "ZKJANITOR_LIVY_AUTH", "ZKJANITOR_LIVY_USER",
        "ZKJANITOR_LIVY_PASSWORD", "ZKJANITOR_SPARK_HISTORY", "ZKJANITOR_SPARK_HISTORY_AUTH", "ZKJANITOR_YARN_TIMELINE",
    )
}


def run_cli(
    args: Sequence[str], env: Optional[Mapping[str, Optional[str]]] = None, input: Optional[str] = None
) -> Result:
    """Run the real click command in-process; stdout and stderr are kept apart."""
    runner = CliRunner()
    return runner.invoke(cli, list(args), env={**_ISOLATED_ENV, **(env or {})}, input=input, catch_exceptions=False)


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


def seeded_expectations(scenario, znodes) -> dict:
    """The scenario's expected (verdict, reason) for the session znodes actually seeded."""
    keys = {(z.type, int(z.name)) for z in znodes if z.name.isdigit()}
    return {key: value for key, value in scenario.expected.items() if key in keys}


def seed_scenario(client, prefix: str, rm, sessions: int, *, seed: int, recent: bool = False):
    """Build an incident scenario, seed its old znodes (and its recent ones if asked), give its apps to ``rm``.

    On ``old_zk_client`` the old znodes look 10 days old; returns the Scenario.
    """
    scenario = build_scenario(sessions, seed=seed, now_ms=int(time.time() * 1000))
    znodes = scenario.old_znodes + scenario.recent_znodes if recent else scenario.old_znodes
    seed_znodes(client, prefix, znodes, counters=scenario.counters)
    rm.add_apps(scenario.apps)
    return scenario
