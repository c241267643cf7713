"""Run a real ZooKeeper ensemble (3 nodes by default) on the loopback interface.

Used by the fault tests. Each member is a :class:`QuorumPeer`: a
:class:`~zkjanitor.testing.zkserver.ZooKeeperServer` (same JVM, logging, data
directory and stop/kill handling) that runs ``QuorumPeerMain`` with
``server.N=127.0.0.1:PEER:ELECTION`` lines, a ``myid`` file and its own client
port (docs/dev/platform-facts.md section 1). A member is ready when its ``srvr``
four-letter word says ``Mode: leader`` or ``Mode: follower``: only then does
it serve clients, and that needs a quorum, so the members start together.

Every port is on 127.0.0.1; the ensemble is a context manager that always
stops every member and removes the data it created.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Set

from zkjanitor.testing.zkserver import (
    LOOPBACK,
    ZooKeeperDistribution,
    ZooKeeperServer,
    ZooKeeperServerError,
    four_letter_word,
    free_port,
)

STANDALONE_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SERVING_MODES = ("leader", "follower")
FOUR_LETTER_WORDS = "srvr,ruok,mntr,stat,cons"
"""``cons`` too: it names the session of each client connection, so a test can find the
member a client is connected to."""
_SESSION_ID = re.compile(r"\bsid=0x([0-9a-fA-F]+)")
PROBE_TIMEOUT_SECONDS = 1.0
"""Bound on one ``srvr`` probe: a member that is loading or electing may not answer."""


def mode_of(port: int) -> Optional[str]:
    """The ``Mode:`` a server on loopback ``port`` reports, or None if it does not serve now."""
    try:
        answer = four_letter_word(port, "srvr", timeout=PROBE_TIMEOUT_SECONDS)
    except OSError:
        return None
    for line in answer.splitlines():
        if line.startswith("Mode: "):
            return line[len("Mode: "):].strip()
    return None


def session_ids(port: int) -> Set[int]:
    """The ids of the client sessions connected to the server on loopback ``port`` (``cons``)."""
    try:
        answer = four_letter_word(port, "cons", timeout=PROBE_TIMEOUT_SECONDS)
    except OSError:
        return set()
    return {int(match.group(1), 16) for match in _SESSION_ID.finditer(answer)}


def _distinct_free_ports(count: int) -> List[int]:
    """``count`` different loopback ports that nothing listens on right now."""
    ports: List[int] = []
    for _ in range(count * 20):
        port = free_port()
        if port not in ports:
            ports.append(port)
        if len(ports) == count:
            return ports
    raise ZooKeeperServerError(f"could not find {count} distinct free ports on {LOOPBACK}")


class QuorumPeer(ZooKeeperServer):
    """One ensemble member: ``QuorumPeerMain`` with ``myid`` and the ensemble's server lines.

    :meth:`start` returns once this member serves clients as leader or
    follower, which needs a quorum of the ensemble to be running.
    """

    def __init__(
        self,
        *,
        myid: int,
        data_dir: Path,
        port: int,
        peer_port: int,
        election_port: int,
        config: Mapping[str, str],
        heap: str = "256m",
        distribution: Optional[ZooKeeperDistribution] = None,
    ) -> None:
        super().__init__(data_dir=data_dir, port=port, heap=heap, extra_config=config, distribution=distribution)
        self.myid = myid
        self.peer_port = peer_port
        self.election_port = election_port

    @property
    def mode(self) -> Optional[str]:
        """``leader``, ``follower``, or None while it is down, electing or not serving."""
        return mode_of(self.port) if self.running else None

    @property
    def sessions(self) -> Set[int]:
        """The ids of the client sessions connected to this member now."""
        return session_ids(self.port) if self.running else set()

    def _command(self, config_path: Path) -> List[str]:
        data = self.data_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (data / "myid").write_text(f"{self.myid}\n")
        command = [QUORUM_MAIN if part == STANDALONE_MAIN else part for part in super()._command(config_path)]
        if QUORUM_MAIN not in command:
            raise ZooKeeperServerError(f"no {STANDALONE_MAIN} in the server command to turn into {QUORUM_MAIN}")
        return command

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                tail = self.log_tail()
                self.stop()
                raise ZooKeeperServerError(f"ZooKeeper member {self.myid} exited during start-up; log tail:\n{tail}")
            if self.mode in SERVING_MODES:
                return
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise ZooKeeperServerError(
            f"ZooKeeper member {self.myid} on {self.connect_string} did not join a quorum "
            f"within {timeout:.0f}s; log tail:\n{tail}"
        )

    def __repr__(self) -> str:
        return (f"QuorumPeer(myid={self.myid}, port={self.port}, peer_port={self.peer_port}, "
                f"election_port={self.election_port}, running={self.running})")


class ZooKeeperEnsemble:
    """``size`` ZooKeeper members on 127.0.0.1 forming one ensemble; a context manager.

    ``tick_ms`` is ZooKeeper's ``tickTime`` (sessions may last 2 to 20 ticks);
    ``extra_config`` adds ``zoo.cfg`` lines to every member; ``distribution`` is
    the ZooKeeper release every member runs (default: Debian's).
    """

    def __init__(
        self,
        size: int = 3,
        *,
        heap: str = "256m",
        tick_ms: int = 2000,
        extra_config: Optional[Mapping[str, str]] = None,
        distribution: Optional[ZooKeeperDistribution] = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"an ensemble needs at least one member, not {size}")
        self.base_dir = Path(tempfile.mkdtemp(prefix="zkjanitor-ensemble-"))
        ports = _distinct_free_ports(3 * size)
        client_ports, peer_ports, election_ports = ports[:size], ports[size : 2 * size], ports[2 * size :]
        config: Dict[str, str] = {
            "tickTime": str(tick_ms),
            "initLimit": "10",
            "syncLimit": "5",
            "4lw.commands.whitelist": FOUR_LETTER_WORDS,
            **{
                f"server.{myid}": f"{LOOPBACK}:{peer_ports[myid - 1]}:{election_ports[myid - 1]}"
                for myid in range(1, size + 1)
            },
            **dict(extra_config or {}),
        }
        self.nodes: List[QuorumPeer] = [
            QuorumPeer(
                myid=myid,
                data_dir=self.base_dir / f"node{myid}",
                port=client_ports[myid - 1],
                peer_port=peer_ports[myid - 1],
                election_port=election_ports[myid - 1],
                config=config,
                heap=heap,
                distribution=distribution,
            )
            for myid in range(1, size + 1)
        ]

    @property
    def connect_string(self) -> str:
        """Every member's ``127.0.0.1:port``, comma-separated, as a client wants it."""
        return ",".join(node.connect_string for node in self.nodes)

    def start(self, node: Optional[QuorumPeer] = None, *, timeout: float = 90.0) -> "ZooKeeperEnsemble":
        """Start ``node`` (or every member, together) and wait until each serves clients.

        On failure every member is stopped and :class:`ZooKeeperServerError` raised.
        """
        nodes: Sequence[QuorumPeer] = [node] if node is not None else self.nodes
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            futures = [pool.submit(member.start, timeout) for member in nodes]
            errors = [future.exception() for future in futures]
        failed = next((error for error in errors if error is not None), None)
        if failed is not None:
            self.stop()
            raise failed
        return self

    def running_nodes(self) -> List[QuorumPeer]:
        return [node for node in self.nodes if node.running]

    def leader(self, timeout: float = 30.0) -> QuorumPeer:
        """The member that is leader now, waiting up to ``timeout`` for an election to end."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.running_nodes():
                if node.mode == "leader":
                    return node
            if time.monotonic() >= deadline:
                raise ZooKeeperServerError(f"no leader among {self.running_nodes()} after {timeout:.0f}s")
            time.sleep(0.1)

    def followers(self, timeout: float = 30.0) -> List[QuorumPeer]:
        """The running members other than the leader (waits for a leader first)."""
        leader = self.leader(timeout)
        return [node for node in self.running_nodes() if node is not leader]

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Wait until every running member serves as leader or follower, under one leader."""
        deadline = time.monotonic() + timeout
        while True:
            modes = [node.mode for node in self.running_nodes()]
            if modes and all(mode in SERVING_MODES for mode in modes) and modes.count("leader") == 1:
                return
            if time.monotonic() >= deadline:
                raise ZooKeeperServerError(f"ensemble not serving after {timeout:.0f}s: modes {modes}")
            time.sleep(0.1)

    def kill(self, node: QuorumPeer) -> None:
        """Crash one member (SIGKILL): no goodbye to its peers or clients."""
        node.kill()

    def stop(self) -> None:
        """Stop every member; idempotent."""
        for node in self.nodes:
            node.stop()

    def cleanup(self) -> None:
        """Stop every member and remove the ensemble's data directories."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __iter__(self) -> Iterator[QuorumPeer]:
        return iter(self.nodes)

    def __enter__(self) -> "ZooKeeperEnsemble":
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()
