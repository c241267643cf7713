"""Released ZooKeeper versions for the compatibility tests, from the jars PySpark bundles.

PyPI carries no ZooKeeper server, but every PySpark source distribution
bundles the ZooKeeper jars its Spark was built with (``deps/jars/``):

========  ===========  ===================================================
version   from          why this one
========  ===========  ===================================================
3.4.6     pyspark 2.4.8  the 3.4 line (no multiRead, no TLS), still in old
                         HDInsight/HDP clusters next to Livy
3.6.3     pyspark 3.5.9  the first line with multiRead and TLS
3.8.0     Debian 12      ``apt-get install zookeeper`` (the default server)
3.9.3     pyspark 4.0.1  the current line
========  ===========  ===================================================

:func:`distribution` downloads the sdist once per machine (``pip download
--no-deps --no-binary :all: --no-build-isolation``: PySpark 2.4.8's
``setup.py`` fails under build isolation, and without ``setuptools`` and ``wheel``),
extracts only the jars a standalone server needs (the server, its logging,
Netty for TLS), writes a logging configuration, and deletes the sdist. The
jars stay in ``$ZKJANITOR_ZK_CACHE/<version>/`` (default
``~/.cache/zkjanitor/zookeeper/<version>/``, under ``$XDG_CACHE_HOME`` if set);
a lock file makes concurrent test runs wait for one download.

``python -m zkjanitor.testing.zkversions [VERSION...]`` fetches ahead of a test run.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.testing.zkserver import ZooKeeperDistribution, debian_distribution

CACHE_ENV = "ZKJANITOR_ZK_CACHE"
VERSIONS_ENV = "ZKJANITOR_ZK_VERSIONS"
DEBIAN = "debian"
DOWNLOAD_TIMEOUT_S = 1200.0
LOCK_TIMEOUT_S = 1500.0
COMPLETE_MARKER = "jars.txt"

_LOG4J2 = r"(slf4j-api|log4j-slf4j2-impl|log4j-api|log4j-core)-[\d.]+\.jar"
_NETTY = (r"netty-(buffer|codec|common|handler|resolver|transport|transport-classes-epoll|"
          r"transport-native-unix-common|tcnative-classes)-[\d.]+\.Final\.jar")
# 3.9 loads Netty's SslContext for any SASL set-up (ZKConfig), even on the NIO server: Netty is always there.
_SERVER_3X = r"(zookeeper|zookeeper-jute)-{v}\.jar|(metrics-core|snappy-java)-[\d.]+\.jar|" + _LOG4J2 + "|" + _NETTY


class Release(NamedTuple):
    """Where one ZooKeeper version's jars come from and which of them a server needs."""

    zookeeper: str
    pyspark: str
    server_jars: str
    """A regular expression of the jar file names (in the sdist's ``deps/jars/``) the server needs, TLS included."""
    logging: str = "log4j2"
    """``log4j1`` (slf4j-log4j12, as ZooKeeper 3.4 shipped) or ``log4j2`` (log4j-slf4j2-impl)."""


RELEASES: Dict[str, Release] = {
    "3.4.6": Release(
        "3.4.6", "2.4.8",
        # 3.4's ZooKeeperServerMain registers log4j 1's MBeans: log4j itself must be on the classpath.
        server_jars=r"zookeeper-3\.4\.6\.jar|(slf4j-api|slf4j-log4j12)-[\d.]+\.jar|log4j-1\.2\.17\.jar",
        logging="log4j1",
    ),
    "3.6.3": Release("3.6.3", "3.5.9", server_jars=_SERVER_3X.format(v=r"3\.6\.3")),
    "3.9.3": Release("3.9.3", "4.0.1", server_jars=_SERVER_3X.format(v=r"3\.9\.3")),
}
MATRIX: Tuple[str, ...] = ("3.4.6", "3.6.3", DEBIAN, "3.9.3")
"""What the compatibility tests run against by default (``$ZKJANITOR_ZK_VERSIONS`` overrides, comma-separated)."""

LOG4J1_PROPERTIES = """\
log4j.rootLogger=WARN, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c - %m%n
"""
LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} [%t] %-5p %c - %m%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
"""


class ZooKeeperVersionError(RuntimeError):
    """A ZooKeeper version could not be fetched or is not known."""


def cache_root(environ: Optional[Dict[str, str]] = None) -> Path:
    """Where versions are kept: ``$ZKJANITOR_ZK_CACHE``, else ``zkjanitor/zookeeper`` in the user's cache."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "zkjanitor" / "zookeeper"


def matrix(environ: Optional[Dict[str, str]] = None) -> Tuple[str, ...]:
    """The versions to test: ``$ZKJANITOR_ZK_VERSIONS`` (comma-separated, ``debian``: Debian's), else :data:`MATRIX`."""
    env = os.environ if environ is None else environ
    chosen = tuple(part.strip() for part in env.get(VERSIONS_ENV, "").split(",") if part.strip())
    for version in chosen:
        if version != DEBIAN and version not in RELEASES:
            raise ZooKeeperVersionError(
                f"{VERSIONS_ENV}: unknown ZooKeeper version {version!r}; known: {', '.join((DEBIAN, *RELEASES))}"
            )
    return chosen or MATRIX


def distribution(version: str, *, cache: Optional[Path] = None) -> ZooKeeperDistribution:
    """The runnable :class:`ZooKeeperDistribution` of ``version`` (``debian``: Debian's), fetching it once."""
    if version == DEBIAN:
        return debian_distribution()
    release = RELEASES.get(version)
    if release is None:
        raise ZooKeeperVersionError(f"unknown ZooKeeper version {version!r}; known: {', '.join((DEBIAN, *RELEASES))}")
    root = cache or cache_root()
    directory = root / version
    if not (directory / COMPLETE_MARKER).exists():
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / f"{version}.lock"):
            if not (directory / COMPLETE_MARKER).exists():  # another process may have fetched it meanwhile
                _fetch(release, directory)
    return _load(release, directory)


def _load(release: Release, directory: Path) -> ZooKeeperDistribution:
    names = (directory / COMPLETE_MARKER).read_text().split()
    server = re.compile(release.server_jars)
    classpath = tuple(directory / name for name in names if server.fullmatch(name))
    if release.logging == "log4j1":
        options: Tuple[str, ...] = (f"-Dlog4j.configuration=file:{directory / 'log4j.properties'}",)
    else:
        options = (f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}",
                   "-Dzookeeper.jmx.log4j.disable=true")
    found = ZooKeeperDistribution(release.zookeeper, classpath, (), options)
    if found.missing() or not any(path.name.startswith("zookeeper-") for path in classpath):
        raise ZooKeeperVersionError(
            f"the cache of ZooKeeper {release.zookeeper} in {directory} is incomplete: remove that directory"
        )
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (a file), waited for at most :data:`LOCK_TIMEOUT_S`."""
    with open(path, "a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ZooKeeperVersionError(f"{path} stayed locked for {LOCK_TIMEOUT_S:g}s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(release: Release, directory: Path) -> None:
    """Download the PySpark sdist, keep the needed jars in ``directory``, delete the sdist."""
    missing = [name for name in ("setuptools", "wheel") if importlib.util.find_spec(name) is None]
    if missing:
        raise ZooKeeperVersionError(
            f"fetching ZooKeeper {release.zookeeper} needs {' and '.join(missing)} (pip builds PySpark's metadata "
            f"without build isolation): {sys.executable} -m pip install {' '.join(missing)}"
        )
    work = Path(tempfile.mkdtemp(prefix=f".{release.zookeeper}-", dir=directory.parent))
    try:
        download = work / "download"
        command = [sys.executable, "-m", "pip", "download", f"pyspark=={release.pyspark}", "--no-deps",
                   "--no-binary", ":all:", "--no-build-isolation", "--no-cache-dir", "--quiet",
                   "--dest", str(download)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ZooKeeperVersionError(
                f"pip download pyspark=={release.pyspark} did not finish in {DOWNLOAD_TIMEOUT_S:g}s"
            ) from None
        sdists = sorted(download.glob("pyspark-*.tar.gz"))
        if done.returncode != 0 or not sdists:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise ZooKeeperVersionError(f"pip download pyspark=={release.pyspark} failed: {tail}")
        staged = work / release.zookeeper
        names = _extract_jars(sdists[0], staged, re.compile(release.server_jars))
        if not any(name.startswith(f"zookeeper-{release.zookeeper}") for name in names):
            raise ZooKeeperVersionError(f"pyspark {release.pyspark} does not bundle zookeeper-{release.zookeeper}.jar")
        (staged / "log4j.properties").write_text(LOG4J1_PROPERTIES)
        (staged / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        (staged / COMPLETE_MARKER).write_text("".join(f"{name}\n" for name in sorted(names)))
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(staged, directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _extract_jars(sdist: Path, destination: Path, wanted: "re.Pattern[str]") -> List[str]:
    """Copy the jars of the sdist's ``deps/jars/`` whose names match ``wanted`` into ``destination``."""
    destination.mkdir(parents=True)
    names: List[str] = []
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or parts[-3:-1] != ["deps", "jars"] or not wanted.fullmatch(parts[-1]):
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            with source, open(destination / parts[-1], "wb") as target:
                shutil.copyfileobj(source, target)
            names.append(parts[-1])
    return names


def main(argv: Sequence[str]) -> int:
    versions = list(argv) or [version for version in matrix() if version != DEBIAN]
    for version in versions:
        started = time.monotonic()
        try:
            found = distribution(version)
        except ZooKeeperVersionError as exc:
            print(f"zkversions: {exc}", file=sys.stderr)
            return 1
        print(f"ZooKeeper {found.version}: {len(found.classpath)} jars in "
              f"{found.classpath[0].parent} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
