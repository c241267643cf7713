"""A real Spark History Server for tests, fed with real Spark event logs that carry YARN application ids.

Built from the facts measured in docs/dev/spark-history-server.md (no script is run):

* pyspark (an sdist of ~320 MB that holds Spark's jars) is pip-installed into a
  venv of its own, in a cache directory keyed by the version, once; Java 17 is
  the machine's. The server is Spark's own ``HistoryServer`` class started with
  ``spark-class`` (which execs the JVM: the process started is the server),
  ``SPARK_LOCAL_IP=127.0.0.1`` so that it listens on loopback only, a 512 MB
  heap, and ``spark.history.fs.update.interval 1s``.
* the event logs are REAL: small local-mode Spark jobs with event logging on,
  run once and cached: one that succeeds, one whose Python UDF fails (the
  driver exits 1), one whose driver JVM is killed with SIGKILL mid-job (its log
  stays ``.inprogress`` forever). Python returns before the JVM's shutdown
  hook closes the log, so each job is followed by a bounded wait for the
  rename.
* ``spark.app.id`` is ignored in local mode, so the logs are rewritten into
  YARN-shaped ones: the local id everywhere, ``SparkListenerApplicationStart``
  (``App ID``, ``App Attempt ID``, name, user, start), the end event's time
  (dropped for an incomplete log), and the environment's ``spark.master=yarn``,
  deploy mode and ``spark.yarn.tags``. The server takes the id from the
  content; files are named as Spark names them
  (``<appId>[_<attempt>][.inprogress]``), written as dot-files (which it skips)
  and renamed. Two logs with one (id, attempt) would merge: ids stay unique.
* the API answers ``200 []`` before the first scan ends, so :meth:`wait_for_apps`
  polls until every log is listed.

The cache is ``$ZKJANITOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/zkjanitor``, else
``~/.cache/zkjanitor``; ``ZKJANITOR_PYSPARK_VERSION`` picks the Spark line
(3.5.9 by default; 4.x writes rolling zstd logs this module does not read).
Every wait is bounded; a server is stopped (its process group killed) by
:meth:`SparkHistoryServer.stop`, and at interpreter exit at the latest.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence

from zkjanitor.testing.zkserver import free_port

PYSPARK_VERSION = os.environ.get("ZKJANITOR_PYSPARK_VERSION", "3.5.9")
LOOPBACK = "127.0.0.1"
PIP_TIMEOUT_S = 900.0
JOB_TIMEOUT_S = 240.0
LOG_CLOSE_TIMEOUT_S = 60.0
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
TEMPLATES = ("ok", "failed", "killed")
"""The real jobs: succeeded, failed (a Python UDF raises, the driver exits 1), killed mid-run (SIGKILL)."""

_JOB = r'''
"""One small local-mode Spark job with its event log on: python job.py MODE EVENT_DIR."""
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql.functions import udf

mode, event_dir = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[1]").appName("zkjanitor-" + mode)
         .config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", "file://" + event_dir)
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
print("JVM", spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid(), flush=True)
numbers = spark.range(0, 5000, numPartitions=2)
if mode == "ok":
    numbers.selectExpr("id % 7 as k").groupBy("k").count().collect()
    spark.stop()
elif mode == "failed":
    @udf("long")
    def fail(value):
        raise ValueError("zkjanitor: a deliberate failure")
    numbers.select(fail("id")).collect()
elif mode == "killed":
    numbers.count()

    @udf("long")
    def wait(value):
        time.sleep(600)
        return value
    print("RUNNING", flush=True)
    numbers.select(wait("id")).collect()
'''


def cache_root() -> Path:
    """Where pyspark and the real event logs are kept between runs."""
    explicit = os.environ.get("ZKJANITOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zkjanitor"


def java_major() -> Optional[int]:
    """The major version of the ``java`` on PATH, or None without one."""
    java = shutil.which("java")
    if java is None:
        return None
    done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    found = re.search(r'version "(\d+)', done.stderr)
    return int(found.group(1)) if found else None


class LabError(RuntimeError):
    """The lab could not be built (no Java 17, pip failed, a job misbehaved): one line saying why."""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created): one process builds a cache entry, the others wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SparkLab:
    """One pyspark version's cache: its venv and its real event logs (built on first use)."""

    def __init__(self, version: str = PYSPARK_VERSION, root: Optional[Path] = None) -> None:
        self.version = version
        self.home = (root or cache_root()) / "spark-history" / f"pyspark-{version}"
        self.venv = self.home / "venv"
        self.python = self.venv / "bin" / "python"
        self.templates_dir = self.home / "templates"

    @property
    def spark_home(self) -> Path:
        """The pyspark package directory, which is a SPARK_HOME (bin/, jars/)."""
        found = sorted(self.venv.glob("lib/python*/site-packages/pyspark"))
        if not found:
            raise LabError(f"pyspark is not installed in {self.venv}")
        return found[0]

    def ensure_pyspark(self) -> Path:
        """pyspark in the cache's venv (pip, once, bounded); its SPARK_HOME."""
        major = java_major()
        if major is None or major < 17:
            raise LabError(f"the Spark History Server tests need Java 17 (found: {major}): "
                           "apt-get install openjdk-17-jre-headless")
        ready = self.venv / ".zkjanitor-ready"
        if ready.exists():
            return self.spark_home
        with _locked(self.home / ".lock"):
            if not ready.exists():
                shutil.rmtree(self.venv, ignore_errors=True)
                self._run([sys.executable, "-m", "venv", str(self.venv)], 300)
                self._run([str(self.python), "-m", "pip", "install", "-q", f"pyspark=={self.version}"], PIP_TIMEOUT_S)
                ready.write_text(self.version + "\n")
        return self.spark_home

    def ensure_templates(self) -> Dict[str, Path]:
        """The real event logs (``ok``, ``failed``, ``killed``), made once by running the jobs."""
        index = self.templates_dir / "index.json"
        if not index.exists():
            self.ensure_pyspark()
            with _locked(self.home / ".lock"):
                if not index.exists():
                    self._make_templates()
        names = json.loads(index.read_text())
        return {mode: self.templates_dir / name for mode, name in names.items()}

    def _make_templates(self) -> None:
        for left_over in self.home.glob("templates.tmp-*"):  # a build that was killed (we hold the lock)
            shutil.rmtree(left_over, ignore_errors=True)
        work = self.home / f"templates.tmp-{os.getpid()}"
        (work / "conf").mkdir(parents=True)
        script = work / "job.py"
        script.write_text(_JOB)
        names = {}
        for mode in TEMPLATES:
            events = work / f"events-{mode}"
            events.mkdir()
            log = self._run_job(script, mode, events, work)
            final = work / mode
            shutil.copyfile(log, final)
            names[mode] = mode
            shutil.rmtree(events)
        (work / "index.json").write_text(json.dumps(names))
        shutil.rmtree(self.templates_dir, ignore_errors=True)
        os.rename(work, self.templates_dir)

    def _run_job(self, script: Path, mode: str, events: Path, work: Path) -> Path:
        """Run one job; the path of its event log once it is closed (or, killed, left in progress)."""
        env = {**os.environ, "SPARK_LOCAL_IP": LOOPBACK, "PYSPARK_PYTHON": str(self.python),
               "SPARK_CONF_DIR": str(work / "conf"), "SPARK_HOME": str(self.spark_home)}
        output = work / f"job-{mode}.out"
        with open(output, "wb") as out:
            job = subprocess.Popen([str(self.python), str(script), mode, str(events)], stdout=out,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                if mode == "killed":
                    self._kill_mid_run(job, output)
                else:
                    job.wait(timeout=JOB_TIMEOUT_S)
            except BaseException:
                _kill_group(job)
                raise
        expected_open = mode == "killed"
        deadline = time.monotonic() + LOG_CLOSE_TIMEOUT_S
        while True:  # the driver's shutdown hook renames the log after Python has returned
            logs = [p for p in events.iterdir() if not p.name.startswith(".")]
            if len(logs) == 1 and logs[0].name.endswith(".inprogress") == expected_open:
                return logs[0]
            if time.monotonic() > deadline:
                tail = output.read_text(errors="replace")[-600:]
                raise LabError(f"the {mode} job left {[p.name for p in logs]} in {events}: {tail}")
            time.sleep(0.2)

    @staticmethod
    def _kill_mid_run(job: "subprocess.Popen[bytes]", output: Path) -> None:
        """Wait for the job to run its endless task, then SIGKILL the driver JVM (and the Python driver)."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        jvm = None
        while time.monotonic() < deadline and job.poll() is None:
            text = output.read_text(errors="replace")
            found = re.search(r"^JVM (\d+)$", text, re.MULTILINE)
            if found and "\nRUNNING" in "\n" + text:
                jvm = int(found.group(1))
                break
            time.sleep(0.2)
        if jvm is None:
            raise LabError(f"the killed job never started its task: {output.read_text(errors='replace')[-600:]}")
        time.sleep(3)  # let the listener write the job's and stage's start events
        os.kill(jvm, signal.SIGKILL)
        _kill_group(job)

    @staticmethod
    def _run(command: Sequence[str], timeout: float) -> None:
        try:
            done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"{' '.join(command[:4])} did not finish within {timeout:g}s") from None
        if done.returncode != 0:
            raise LabError(f"{' '.join(command[:4])} failed: {(done.stderr or done.stdout)[-600:]}")


def _kill_group(process: "subprocess.Popen[Any]") -> None:
    """SIGKILL a process started with ``start_new_session`` and everything in its group; reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


# ---------------------------------------------------------------------------------- YARN-shaped logs


class HistoryApp(NamedTuple):
    """One application's event log, as a YARN cluster-mode (attempt "1"...) or client-mode (no attempt) Spark app.

    ``template`` is a real log (``ok``, ``failed``, ``killed``); ``end_ms`` None
    for an incomplete log (no end event); ``in_progress`` names the file
    ``.inprogress`` (the default for an incomplete log; True with ``end_ms``
    is a driver that wrote its end but whose log was never renamed).
    """

    app_id: str
    template: str
    start_ms: int
    end_ms: Optional[int]
    attempt: Optional[str] = "1"
    name: str = "livy-batch"
    user: str = "livy"
    tags: str = ""
    in_progress: Optional[bool] = None

    @property
    def file_name(self) -> str:
        """Spark's own name for the log: ``<appId>[_<attempt>][.inprogress]``."""
        in_progress = self.end_ms is None if self.in_progress is None else self.in_progress
        return self.app_id + (f"_{self.attempt}" if self.attempt else "") + (".inprogress" if in_progress else "")


class EventLog:
    """A real local-mode event log, ready to be rewritten as a YARN application's."""

    def __init__(self, path: Path) -> None:
        self.lines = path.read_text(encoding="utf-8").splitlines()
        self.start_at = self.end_at = self.environment_at = -1
        for at, line in enumerate(self.lines):
            if '"Event":"SparkListenerApplicationStart"' in line:
                self.start_at = at
            elif '"Event":"SparkListenerApplicationEnd"' in line:
                self.end_at = at
            elif '"Event":"SparkListenerEnvironmentUpdate"' in line:
                self.environment_at = at
        if self.start_at < 0:
            raise LabError(f"{path} has no SparkListenerApplicationStart")
        self.start = json.loads(self.lines[self.start_at])
        self.local_id = str(self.start["App ID"])

    def render(self, app: HistoryApp) -> bytes:
        out: List[str] = []
        for at, line in enumerate(self.lines):
            if at == self.start_at:
                event: Dict[str, Any] = {"Event": "SparkListenerApplicationStart", "App Name": app.name,
                                         "App ID": app.app_id, "Timestamp": app.start_ms, "User": app.user}
                if app.attempt:
                    event["App Attempt ID"] = app.attempt
                line = json.dumps(event, separators=(",", ":"))
            elif at == self.end_at:
                if app.end_ms is None:
                    continue
                line = json.dumps({"Event": "SparkListenerApplicationEnd", "Timestamp": app.end_ms},
                                  separators=(",", ":"))
            elif at == self.environment_at:
                event = json.loads(line)
                properties = event.get("Spark Properties") or {}
                properties = dict(properties) if isinstance(properties, list) else dict(properties)
                properties.update({
                    "spark.master": "yarn", "spark.submit.deployMode": "cluster" if app.attempt else "client",
                    "spark.app.id": app.app_id, "spark.yarn.app.id": app.app_id, "spark.app.name": app.name,
                })
                if app.tags:
                    properties["spark.yarn.tags"] = app.tags
                event["Spark Properties"] = properties
                line = json.dumps(event, separators=(",", ":")).replace(self.local_id, app.app_id)
            else:
                line = line.replace(self.local_id, app.app_id)
            out.append(line)
        if app.end_ms is not None and self.end_at < 0:  # a log that never had an end (the killed one) gets one
            out.append(json.dumps({"Event": "SparkListenerApplicationEnd", "Timestamp": app.end_ms},
                                  separators=(",", ":")))
        return ("\n".join(out) + "\n").encode("utf-8")


def write_logs(directory: Path, apps: Sequence[HistoryApp], templates: Mapping[str, Path]) -> List[Path]:
    """Write every app's log into ``directory`` (dot-file, then renamed; mtime at its end or start)."""
    directory.mkdir(parents=True, exist_ok=True)
    parsed = {name: EventLog(path) for name, path in templates.items()}
    seen = set()
    written = []
    for app in apps:
        key = (app.app_id, app.attempt)
        if key in seen:
            raise ValueError(f"two logs for {key} would merge into one application")
        seen.add(key)
        final = directory / app.file_name
        temporary = directory / f".{app.file_name}.tmp"
        temporary.write_bytes(parsed[app.template].render(app))
        moment_ns = (app.end_ms or app.start_ms) * 1_000_000  # exact: the server reads the mtime in ms
        os.utime(temporary, ns=(moment_ns, moment_ns))
        os.rename(temporary, final)
        written.append(final)
    return written


# ---------------------------------------------------------------------------------- the server


class SparkHistoryServer:
    """Spark's HistoryServer over ``log_dir`` on ``http://127.0.0.1:<free port>``; ``work_dir`` holds its files."""

    def __init__(self, spark_home: Path, log_dir: Path, work_dir: Path, *, memory: str = "512m") -> None:
        self.spark_home = spark_home
        self.log_dir = log_dir
        self.work_dir = work_dir
        self.memory = memory
        self.port = free_port()
        self.process: Optional["subprocess.Popen[bytes]"] = None
        self.output = work_dir / "history-server.out"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> "SparkHistoryServer":
        """Start it and wait (bounded) until its REST API answers."""
        conf_dir = self.work_dir / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        properties = self.work_dir / "history-server.conf"
        properties.write_text(
            f"spark.history.fs.logDirectory file://{self.log_dir}\n"
            f"spark.history.ui.port {self.port}\n"
            "spark.history.fs.update.interval 1s\n"
        )
        env = {**os.environ, "SPARK_HOME": str(self.spark_home), "SPARK_LOCAL_IP": LOOPBACK,
               "SPARK_DAEMON_MEMORY": self.memory, "SPARK_CONF_DIR": str(conf_dir)}
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [str(self.spark_home / "bin" / "spark-class"), "org.apache.spark.deploy.history.HistoryServer",
                 "--properties-file", str(properties)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.applications() is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.output.read_text(errors="replace")[-800:]
                self.stop()
                raise LabError(f"the Spark History Server did not answer on {self.url}: {tail}")
            time.sleep(0.2)
        return self

    def applications(self, query: str = "") -> Optional[List[Dict[str, Any]]]:
        """``/api/v1/applications[?query]``, or None when it does not answer (yet)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/applications{query}", timeout=10) as reply:
                return json.loads(reply.read())
        except (OSError, ValueError):
            return None

    def wait_for_apps(self, count: int, timeout: float = START_TIMEOUT_S) -> List[Dict[str, Any]]:
        """Wait (bounded) until it lists ``count`` applications: it answers before its first scan ends."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.applications() or []
            if len(listed) >= count:
                return listed
            if time.monotonic() > deadline:
                raise LabError(f"the Spark History Server lists {len(listed)} of {count} applications "
                               f"after {timeout:g}s")
            time.sleep(0.3)

    def stop(self) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after a bounded wait); safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(process)

    def __enter__(self) -> "SparkHistoryServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
