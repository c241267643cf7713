"""Run a real, standalone ZooKeeper server on a free loopback port.

Used by the test suite, ``make demo`` and the benchmarks. Needs Debian's
``zookeeper`` package (``/usr/share/java/zookeeper.jar``) and a JRE; optionally
``faketime`` to start the server with its clock in the past, so that the znodes
it creates carry old ctime/mtime stamps.

Another ZooKeeper version runs from a :class:`ZooKeeperDistribution` (its jars
and JVM options); ``zkjanitor.testing.zkversions`` makes those for released
versions. The default is Debian's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.testing.local_server import LocalServer

JAVA_DIR = Path(os.environ.get("ZKJANITOR_JAVA_DIR", "/usr/share/java"))
ZOOKEEPER_JAR = JAVA_DIR / "zookeeper.jar"
SLF4J_SIMPLE_JAR = JAVA_DIR / "slf4j-simple.jar"
NETTY_CODEC_JAR = JAVA_DIR / "netty-codec.jar"
ZKCLI = Path("/usr/share/zookeeper/bin/zkCli.sh")
LOOPBACK = "127.0.0.1"
_VERSIONED_JAR = re.compile(r"^zookeeper-(\d+\.\d+\.\d+)\.jar$")


class ZooKeeperDistribution(NamedTuple):
    """One ZooKeeper release as a JVM runs it: its version, jars and JVM options.

    ``classpath`` runs the plain (NIO) server with logging; ``tls_classpath``
    is what the Netty server (``NettyServerCnxnFactory``, TLS) needs on top.
    """

    version: str
    classpath: Tuple[Path, ...]
    tls_classpath: Tuple[Path, ...] = ()
    jvm_options: Tuple[str, ...] = ()

    @property
    def version_tuple(self) -> Tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3])

    @property
    def has_multiread(self) -> bool:
        """multiRead (opcode 22) came with 3.6.0."""
        return self.version_tuple >= (3, 6)

    @property
    def has_tls(self) -> bool:
        """``secureClientPort`` came with 3.5.5 (the first stable 3.5)."""
        return self.version_tuple >= (3, 5, 5)

    @property
    def has_4lw_whitelist(self) -> bool:
        """``4lw.commands.whitelist`` came with 3.4.10 and 3.5.3; before, every word is answered."""
        return self.version_tuple >= (3, 4, 10)

    @property
    def has_get_all_children_number(self) -> bool:
        """``getAllChildrenNumber`` (opcode 104) came with 3.6.0."""
        return self.version_tuple >= (3, 6)

    def missing(self) -> List[Path]:
        """The jars of this distribution that are not on disk."""
        return [jar for jar in (*self.classpath, *self.tls_classpath) if not jar.exists()]


def debian_distribution() -> ZooKeeperDistribution:
    """Debian's ZooKeeper (``apt-get install zookeeper``) with slf4j-simple for logging and Netty's codec for TLS.

    Its version comes from the ``zookeeper-X.Y.Z.jar`` link Debian installs beside ``zookeeper.jar``.
    """
    versions = sorted(match.group(1) for match in map(_VERSIONED_JAR.match, os.listdir(JAVA_DIR))
                      if match) if JAVA_DIR.is_dir() else []
    return ZooKeeperDistribution(
        version=versions[-1] if versions else "unknown",
        classpath=(ZOOKEEPER_JAR, SLF4J_SIMPLE_JAR),
        tls_classpath=(NETTY_CODEC_JAR,),
    )


class ZooKeeperServerError(RuntimeError):
    """The server could not be started or did not become ready."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def four_letter_word(port: int, word: str, timeout: float = 2.0) -> str:
    """Send a four-letter command to a server on loopback and return its answer."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(word.encode("ascii"))
        chunks = []
        while True:
            chunk = sock.recv(8192)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_port_closed(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)


class ZooKeeperServer(LocalServer):
    """One standalone ZooKeeper process; a context manager that always stops it.

    ``faketime`` is a libfaketime offset such as ``"-30d"``: the server's wall
    clock, and so every ctime/mtime it stamps, is shifted by that much.
    ``extra_config`` adds lines to ``zoo.cfg``; ``jvm_options`` adds JVM flags;
    ``classpath`` adds jars (e.g. Netty's codec for ``NettyServerCnxnFactory``).
    ``distribution`` is the ZooKeeper release to run (default: Debian's).
    """

    def __init__(
        self,
        *,
        data_dir: Optional[Path] = None,
        port: Optional[int] = None,
        faketime: Optional[str] = None,
        heap: str = "256m",
        extra_config: Optional[Mapping[str, str]] = None,
        jvm_options: Optional[List[str]] = None,
        classpath: Sequence[Path] = (),
        distribution: Optional[ZooKeeperDistribution] = None,
    ) -> None:
        self.distribution = distribution or debian_distribution()
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="zkjanitor-zk-"))
        super().__init__(self.data_dir if data_dir is None else None)
        self.port = port or free_port()
        self.faketime = faketime
        self.heap = heap
        self.extra_config: Dict[str, str] = dict(extra_config or {})
        self.jvm_options = [*self.distribution.jvm_options, *(jvm_options or [])]
        self.classpath = [*self.distribution.classpath, *classpath]

    @property
    def connect_string(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "zookeeper.log"

    def _write_config(self) -> Path:
        config = {
            "tickTime": "2000",
            "dataDir": str(self.data_dir / "data"),
            "clientPort": str(self.port),
            "clientPortAddress": LOOPBACK,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "srvr,ruok,mntr,stat",
            "forceSync": "no",
            "maxClientCnxns": "0",
            "globalOutstandingLimit": "10000",
        }
        config.update(self.extra_config)
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "zoo.cfg"
        path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        return path

    def _command(self, config_path: Path) -> List[str]:
        if not ZOOKEEPER_JAR.exists() and ZOOKEEPER_JAR in self.classpath:
            raise ZooKeeperServerError(
                f"{ZOOKEEPER_JAR} not found: install Debian's zookeeper package "
                "(`make setup` does it) or set ZKJANITOR_JAVA_DIR"
            )
        missing = [jar for jar in self.classpath if jar != SLF4J_SIMPLE_JAR and not jar.exists()]
        if missing:
            raise ZooKeeperServerError(
                f"ZooKeeper {self.distribution.version}: {', '.join(map(str, missing))} not found "
                "(zkjanitor.testing.zkversions fetches released versions)"
            )
        java = shutil.which("java")
        if java is None:
            raise ZooKeeperServerError("no `java` on PATH: install a JRE (`make setup` does it)")
        classpath = ":".join(str(jar) for jar in self.classpath)
        command = [
            java,
            f"-Xmx{self.heap}",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            *self.jvm_options,
            "-cp",
            classpath,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(config_path),
        ]
        if self.faketime:
            faketime = shutil.which("faketime")
            if faketime is None:
                raise ZooKeeperServerError("`faketime` not found: apt-get install faketime")
            command = [faketime, "-f", self.faketime, *command]
        return command

    def start(self, timeout: float = 60.0) -> "ZooKeeperServer":
        """Start the server and wait until it serves clients (``srvr`` answers)."""
        if self._process is not None:
            raise ZooKeeperServerError("server already running")
        if _port_open(self.port):
            raise ZooKeeperServerError(f"port {self.port} on {LOOPBACK} is already in use")
        command = self._command(self._write_config())
        env = dict(os.environ)
        if self.faketime:
            # Without these the JVM spins at 100% CPU under libfaketime.
            env.update(FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_FORCE_MONOTONIC_FIX="0")
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                self._close_log()
                self._process = None
                raise ZooKeeperServerError(
                    f"ZooKeeper exited during start-up; log tail:\n{self.log_tail()}"
                )
            try:
                if "Mode: standalone" in four_letter_word(self.port, "srvr", timeout=1.0):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ZooKeeperServerError(
            f"ZooKeeper not ready on {self.connect_string} after {timeout:.0f}s; "
            f"log tail:\n{self.log_tail()}"
        )

    def server_version(self, timeout: float = 2.0) -> str:
        """The ``Zookeeper version:`` line of ``srvr``, e.g. ``3.4.6-1569965, built on ...``."""
        for line in four_letter_word(self.port, "srvr", timeout=timeout).splitlines():
            if line.startswith("Zookeeper version: "):
                return line[len("Zookeeper version: "):].strip()
        raise ZooKeeperServerError(f"no version in the srvr answer of {self.connect_string}")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL); idempotent."""
        process, self._process = self._process, None
        if process is not None:
            # The server runs in its own process group (faketime wraps the JVM).
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=timeout)
            _wait_port_closed(self.port, timeout)
        self._close_log()

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would."""
        if self._process is not None:
            _signal_group(self._process, signal.SIGKILL)
            self._process.wait(timeout=15)
            self._process = None
            _wait_port_closed(self.port, 15)
        self._close_log()

    def restart(self, *, faketime: Optional[str] = None, timeout: float = 60.0) -> None:
        """Stop, then start again on the same port and data (optionally another clock)."""
        self.stop()
        self.faketime = faketime
        self.start(timeout=timeout)
