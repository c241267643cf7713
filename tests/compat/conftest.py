"""Fixtures of the compatibility tests (``make test-compat``): a real KDC and released ZooKeeper versions.

Every test in this folder is marked ``compat`` (``make test`` leaves them out).
Servers start once per test session: the KDC and its principals, a Kerberized
ZooKeeper, and for each ZooKeeper version of the matrix its plain, SASL/TLS and
Kerberized servers (pytest runs one version's tests together, then stops its
servers before starting the next version's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, NamedTuple, Optional

import pytest
from kazoo.client import KazooClient
from kazoo.security import CREATOR_ALL_ACL

from zkjanitor.testing import zkversions
from zkjanitor.testing.kdc import MitKdc
from zkjanitor.testing.zkserver import ZooKeeperDistribution, debian_distribution

COMPAT_DIR = Path(__file__).parent
LIVY = "livy"
OTHER = "analyst"
"""A principal of the same realm that Livy's ACLs do not name."""


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if COMPAT_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.compat)


class Realm(NamedTuple):
    """The test realm: its KDC, principals, keytabs and ticket caches (all in the KDC's temp directory)."""

    kdc: MitKdc
    zookeeper_principal: str
    zookeeper_keytab: Path
    http_principal: str
    http_keytab: Path
    livy: str
    livy_keytab: Path
    livy_ccache: Path
    other: str
    other_ccache: Path

    def env(self, ccache: Optional[Path] = None, *, keytab: Optional[Path] = None) -> Dict[str, Optional[str]]:
        """Variables for a CLI run: this realm, the ticket cache ``ccache``, the client keytab ``keytab`` (or none)."""
        return {"KRB5_CLIENT_KTNAME": None, **self.kdc.client_env(ccache, keytab=keytab)}

    def fresh_ccache(self, name: str) -> Path:
        """A ticket cache path in the realm's directory that does not exist yet."""
        path = self.kdc.directory / f"{name}.ccache"
        assert not path.exists()
        return path


@pytest.fixture(scope="session")
def realm() -> Iterator[Realm]:
    """A KDC for ZKJANITOR.TEST; for the whole session the process's Kerberos variables point at it only."""
    with MitKdc() as kdc:
        zookeeper = kdc.add_principal("zookeeper/127.0.0.1")
        http = kdc.add_principal("HTTP/127.0.0.1")
        livy = kdc.add_principal(LIVY)
        other = kdc.add_principal(OTHER)
        directory = kdc.directory
        found = Realm(
            kdc,
            zookeeper,
            kdc.keytab(directory / "zookeeper.keytab", [zookeeper]),
            http,
            kdc.keytab(directory / "http.keytab", [http]),
            livy,
            kdc.keytab(directory / "livy.keytab", [livy]),
            directory / "livy.ccache",
            other,
            directory / "analyst.ccache",
        )
        kdc.kinit(livy, found.livy_ccache, keytab=found.livy_keytab)
        kdc.kinit(other, found.other_ccache, keytab=kdc.keytab(directory / "analyst.keytab", [other]))
        with pytest.MonkeyPatch.context() as patch:
            # Seeding clients act as Livy; a CLI run gets its own variables from run_cli's env.
            for name, value in found.env(found.livy_ccache).items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            yield found


def kerberos_client(connect: str) -> KazooClient:
    """A client logged in as ``livy`` (the session's ticket cache) that creates znodes only Livy may touch."""
    client = KazooClient(hosts=connect, timeout=10, default_acl=CREATOR_ALL_ACL,
                         sasl_options={"mechanism": "GSSAPI", "service": "zookeeper"},
                         connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
                         command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1})
    client.start(timeout=15)
    return client


def version_id(version: str) -> str:
    return f"zk-{debian_distribution().version}-debian" if version == zkversions.DEBIAN else f"zk-{version}"


@pytest.fixture(scope="session", params=zkversions.matrix(), ids=version_id)
def zk_release(request) -> ZooKeeperDistribution:
    """One ZooKeeper version of the matrix (fetched into the cache on first use)."""
    return zkversions.distribution(request.param)


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory):
    from zkjanitor.testing.zksecure import generate_tls_material

    return generate_tls_material(tmp_path_factory.mktemp("compat-tls"))


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """The working directory (a prune without --backup writes its backup there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


