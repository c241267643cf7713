"""Write realistic Livy session-recovery state into a real ZooKeeper.

Used by the tests, ``make demo`` and the benchmarks. Three layers:

* record builders (pure): Livy's JSON records exactly as each Livy version
  writes them (docs/dev/livy-state-store.md 2.3-2.5, 4.1), YARN ResourceManager app
  objects, and hostile payloads that Livy could not load;
* ``seed``: creates the store layout and many znodes quickly, in pipelined,
  size-bounded ZooKeeper transactions;
* ``build_scenario``: a deterministic incident store (tens of thousands of
  sessions a scheduler never deleted) together with what the RM remembers and
  the verdict zkjanitor must reach for every session znode.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections import deque
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

from kazoo.client import KazooClient
from kazoo.exceptions import (
    KazooException,
    NodeExistsError,
    RolledBackError,
    RuntimeInconsistency,
)

from zkjanitor.model import SessionType, Verdict

LIVY_VERSIONS = ("0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9")

STORE_VERSION = "v1"
STATE_ZNODE = "state"
TAG_SUFFIX_LENGTH = 8
TAG_ALPHABET = string.ascii_letters + string.digits
"""Livy's ``Random.alphanumeric``: the random part of an app tag."""

YARN_TERMINAL_STATES = ("FINISHED", "FAILED", "KILLED")
_FINAL_STATUS_OF_STATE = {"FINISHED": "SUCCEEDED", "FAILED": "FAILED", "KILLED": "KILLED"}

MAX_TRANSACTION_OPS = 1000
MAX_TRANSACTION_BYTES = 512 * 1024
"""Bytes of paths and data per transaction: half of the server's 1 MB jute.maxbuffer."""
CREATE_OP_OVERHEAD_BYTES = 64
"""Serialized bytes of one create op besides its path and data (header, lengths, ACL, flags)."""
MAX_TRANSACTIONS_IN_FLIGHT = 4
REQUEST_TIMEOUT_S = 60.0
MAX_SINGLE_ZNODE_BYTES = 1024 * 1024 - 4096
"""The largest payload a single create carries safely under jute.maxbuffer (1,048,575 bytes)."""

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


_VERSION_KEYS = {
    livy_version: (int(livy_version.split(".")[0]), int(livy_version.split(".")[1]))
    for livy_version in LIVY_VERSIONS
}


def _version_key(livy_version: str) -> Tuple[int, int]:
    """``"0.7"`` -> ``(0, 7)``; ValueError for a version not in LIVY_VERSIONS."""
    try:
        return _VERSION_KEYS[livy_version]
    except KeyError:
        raise ValueError(
            f"unknown Livy version {livy_version!r}; expected one of {LIVY_VERSIONS}"
        ) from None


# --------------------------------------------------------------------------- records


def app_tag_for(
    session_type: SessionType, session_id: int, livy_version: str, rng: random.Random
) -> str:
    """The app tag Livy gives a new session: mixed case before 0.9, lowercased from 0.9."""
    kind = "batch" if session_type is SessionType.BATCH else "session"
    suffix = "".join(rng.choices(TAG_ALPHABET, k=TAG_SUFFIX_LENGTH))
    tag = f"livy-{kind}-{session_id}-{suffix}"
    return tag.lower() if _version_key(livy_version) >= (0, 9) else tag


def livy_record(
    session_type: SessionType,
    session_id: int,
    *,
    livy_version: str,
    app_tag: str,
    app_id: Optional[str] = None,
    owner: Optional[str] = None,
    proxy_user: Optional[str] = None,
    name: Optional[str] = None,
    kind: str = "spark",
    rsc_driver_uri: Optional[str] = None,
    conf: Optional[Mapping[str, str]] = None,
    ttl: Optional[str] = None,
    idle_timeout: Optional[str] = None,
    heartbeat_timeout_s: int = 0,
    driver_memory: Optional[str] = None,
    driver_cores: Optional[int] = None,
    executor_memory: Optional[str] = None,
    executor_cores: Optional[int] = None,
    num_executors: Optional[int] = None,
    queue: Optional[str] = None,
    archives: Sequence[str] = (),
    files: Sequence[str] = (),
    jars: Sequence[str] = (),
    py_files: Sequence[str] = (),
) -> Dict[str, Any]:
    """The recovery record Livy ``livy_version`` writes, keys in Jackson's order.

    Exactly the keys that version writes (empty Options as null; 0.8 writes
    ``ttl`` as null whatever was requested, as Livy 0.8 does). Passing a value
    the version or session type cannot store raises ValueError.
    """
    version = _version_key(livy_version)
    interactive = session_type is SessionType.INTERACTIVE
    has_name = version >= (0, 6)
    has_request = interactive and version >= (0, 8)
    has_idle_timeout = interactive and version >= (0, 9)
    unstorable = {
        "name": name is not None and not has_name,
        "kind": kind != "spark" and not interactive,
        "heartbeat_timeout_s": heartbeat_timeout_s != 0 and not interactive,
        "rsc_driver_uri": rsc_driver_uri is not None and not interactive,
        "ttl": ttl is not None and not has_request,
        "idle_timeout": idle_timeout is not None and not has_idle_timeout,
        "conf": conf is not None and not has_request,
        "request resources": not has_request
        and any(
            value is not None
            for value in (driver_memory, driver_cores, executor_memory, executor_cores,
                          num_executors, queue)
        ),
        "request files": not has_request and any((archives, files, jars, py_files)),
    }
    refused = [field for field, is_refused in unstorable.items() if is_refused]
    if refused:
        raise ValueError(
            f"Livy {livy_version} {session_type.value} records cannot store: {', '.join(refused)}"
        )

    record: Dict[str, Any] = {"id": session_id}
    if has_name:
        record["name"] = name
    record["appId"] = app_id
    record["appTag"] = app_tag
    if interactive:
        record["kind"] = kind
        record["heartbeatTimeoutS"] = heartbeat_timeout_s
    record["owner"] = owner
    if has_request:
        record["ttl"] = ttl if version >= (0, 9) else None
        if has_idle_timeout:
            record["idleTimeout"] = idle_timeout
        record["driverMemory"] = driver_memory
        record["driverCores"] = driver_cores
        record["executorMemory"] = executor_memory
        record["executorCores"] = executor_cores
        record["conf"] = dict(conf or {})
        record["archives"] = list(archives)
        record["files"] = list(files)
        record["jars"] = list(jars)
        record["numExecutors"] = num_executors
        record["pyFiles"] = list(py_files)
        record["queue"] = queue
    record["proxyUser"] = proxy_user
    if interactive:
        record["rscDriverUri"] = rsc_driver_uri
    record["version"] = 1
    return record


def counter_record(next_session_id: int) -> Dict[str, int]:
    """The ``v1/<type>/state`` record (SessionManagerState)."""
    return {"nextSessionId": next_session_id}


_JACKSON_LIKE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Built once: ``json.dumps`` with options builds a new encoder on every call."""


def encode_record(record: Any) -> bytes:
    """Serialize like Livy's Jackson mapper: compact UTF-8 JSON, non-ASCII unescaped."""
    return _JACKSON_LIKE_ENCODER.encode(record).encode("utf-8")


def yarn_app_id(cluster_ts: int, seq: int) -> str:
    """A YARN application id: ``application_<cluster start ms>_<seq, at least 4 digits>``."""
    return f"application_{cluster_ts}_{seq:04d}"


def yarn_app(
    app_id: str,
    app_tag: str,
    *,
    state: str,
    user: str,
    started_ms: int,
    finished_ms: int = 0,
    final_status: Optional[str] = None,
    name: Optional[str] = None,
) -> Dict[str, Any]:
    """The fields of one ResourceManager app that matter to Livy, as the RM names them.

    :class:`~zkjanitor.testing.yarn_double.YarnDouble` completes the rest of
    the object when the app is added. ``finalStatus`` follows from ``state``
    when not given; ``name`` defaults to Livy's ``livy-<kind>-<id>``.
    """
    terminal = state in YARN_TERMINAL_STATES
    return {
        "id": app_id,
        "user": user,
        "name": name if name is not None else app_tag.rsplit("-", 1)[0],
        "state": state,
        "finalStatus": final_status or _FINAL_STATUS_OF_STATE.get(state, "UNDEFINED"),
        "applicationType": "SPARK",
        "applicationTags": app_tag.lower(),
        "startedTime": started_ms,
        "finishedTime": finished_ms if terminal else 0,
    }


# --------------------------------------------------------------------------- hostile payloads


def empty_payload(record: Dict[str, Any]) -> bytes:
    """No data at all (a znode made by hand, or a crashed writer)."""
    return b""


def truncated_json(record: Dict[str, Any]) -> bytes:
    """The record's JSON cut in half: not valid JSON."""
    data = encode_record(record)
    return data[: max(1, len(data) // 2)]


def non_utf8_payload(record: Dict[str, Any]) -> bytes:
    """The record with a non-ASCII owner, written as Latin-1 instead of UTF-8."""
    text = _JACKSON_LIKE_ENCODER.encode({**record, "owner": "j\u00f6rg"})
    return text.encode("latin-1", errors="replace")


def json_array_payload(record: Dict[str, Any]) -> bytes:
    """Valid JSON that is not an object: the record wrapped in an array."""
    return encode_record([record])


def missing_id_payload(record: Dict[str, Any]) -> bytes:
    """The record without its ``id``."""
    return encode_record({key: value for key, value in record.items() if key != "id"})


def id_mismatch_payload(record: Dict[str, Any]) -> bytes:
    """The record claiming the next id (as if copied from a neighbour's znode)."""
    return encode_record({**record, "id": record["id"] + 1})


def missing_app_tag_payload(record: Dict[str, Any]) -> bytes:
    """The record without its ``appTag``."""
    return encode_record({key: value for key, value in record.items() if key != "appTag"})


def numeric_app_id_payload(record: Dict[str, Any]) -> bytes:
    """The record with ``appId`` as a JSON number: a known field of the wrong type."""
    return encode_record({**record, "appId": 1712345678901})


def deeply_nested_payload(record: Dict[str, Any], depth: int = 100_000) -> bytes:
    """The record with an unknown key holding ``depth`` nested arrays.

    Deeper than recursive JSON parsers allow (Python's json module raises
    RecursionError), so a careful decoder reports it as bad JSON.
    """
    marker = '"__nested__"'
    text = encode_record({**record, "nested": "__nested__"}).decode("utf-8")
    return text.replace(marker, "[" * depth + "]" * depth, 1).encode("utf-8")


def oversized_payload(record: Dict[str, Any], size: int = MAX_SINGLE_ZNODE_BYTES) -> bytes:
    """A valid record padded, through an unknown key Livy ignores, to exactly ``size`` bytes.

    The default is just under 1 MB, the most one znode can hold.
    """
    unpadded = len(encode_record({**record, "padding": ""}))
    if size < unpadded:
        raise ValueError(f"size {size} is smaller than the unpadded record ({unpadded} bytes)")
    return encode_record({**record, "padding": "x" * (size - unpadded)})


CORRUPT_PAYLOADS: Dict[str, Callable[[Dict[str, Any]], bytes]] = {
    "empty": empty_payload,
    "not-utf8": non_utf8_payload,
    "bad-json": truncated_json,
    "not-an-object": json_array_payload,
    "missing-id": missing_id_payload,
    "id-mismatch": id_mismatch_payload,
    "missing-app-tag": missing_app_tag_payload,
    "bad-field": numeric_app_id_payload,
}
"""For every corrupt reason in model.REASONS, a builder that turns a valid record into it."""


# --------------------------------------------------------------------------- writing


class SeedZnode(NamedTuple):
    """One child of ``/<prefix>/v1/<type>`` to create: its name and raw data."""

    type: SessionType
    name: str
    data: bytes


class SeedError(RuntimeError):
    """ZooKeeper refused some of the znodes to seed."""


def store_path(prefix: str, session_type: SessionType, name: Optional[str] = None) -> str:
    """``/<prefix>/v1/<type>`` or, with ``name``, the path of that child (Livy's layout)."""
    parent = f"/{prefix}/{STORE_VERSION}/{session_type.value}"
    return parent if name is None else f"{parent}/{name}"


def _transaction_batches(
    paths_and_data: Iterable[Tuple[str, bytes]],
) -> Iterable[List[Tuple[str, bytes]]]:
    """Group creates so that no batch exceeds MAX_TRANSACTION_OPS or MAX_TRANSACTION_BYTES.

    A create bigger than the byte budget on its own comes out as a batch of one.
    """
    batch: List[Tuple[str, bytes]] = []
    batch_bytes = 0
    for path, data in paths_and_data:
        op_bytes = CREATE_OP_OVERHEAD_BYTES + len(path.encode("utf-8")) + len(data)
        if batch and (
            len(batch) >= MAX_TRANSACTION_OPS or batch_bytes + op_bytes > MAX_TRANSACTION_BYTES
        ):
            yield batch
            batch, batch_bytes = [], 0
        batch.append((path, data))
        batch_bytes += op_bytes
    if batch:
        yield batch


def _submit(client: KazooClient, batch: List[Tuple[str, bytes]]) -> Any:
    """Send one batch: a plain create for a single znode, else a transaction."""
    if len(batch) == 1:
        path, data = batch[0]
        return client.create_async(path, data)
    transaction = client.transaction()
    for path, data in batch:
        transaction.create(path, data)
    return transaction.commit_async()


def _failures(
    client: KazooClient, batch: List[Tuple[str, bytes]], pending: Any
) -> List[Tuple[str, str]]:
    """Wait for one submitted batch; ``(path, error)`` for each op that failed.

    A failed transaction does not raise and applies nothing: its result names
    the culprit and marks the ops before it RolledBackError and those after it
    RuntimeInconsistency, so only the culprit is reported.
    """
    try:
        outcome = pending.get(timeout=REQUEST_TIMEOUT_S)
    except (KazooException, client.handler.timeout_exception) as exc:
        error = f"{type(exc).__name__} {exc}".strip()
        if len(batch) > 1:
            error += f" (for the transaction of {len(batch)} znodes starting here)"
        return [(batch[0][0], error)]
    results = outcome if isinstance(outcome, list) else [outcome]
    if len(results) != len(batch):
        return [(batch[0][0], f"transaction returned {len(results)} results for {len(batch)} ops")]
    failed = [
        (path, result)
        for (path, _), result in zip(batch, results)
        if isinstance(result, Exception)
    ]
    culprits = [
        (path, result) for path, result in failed
        if not isinstance(result, (RolledBackError, RuntimeInconsistency))
    ]
    return [(path, type(result).__name__) for path, result in culprits or failed]


def _write_counter(client: KazooClient, path: str, next_session_id: int) -> None:
    """Create or overwrite one ``state`` znode."""
    data = encode_record(counter_record(next_session_id))
    try:
        client.create(path, data)
    except NodeExistsError:
        client.set(path, data)


def seed(
    client: KazooClient,
    prefix: str,
    znodes: Iterable[SeedZnode],
    *,
    counters: Optional[Mapping[SessionType, int]] = None,
) -> int:
    """Create Livy's store layout under ``/<prefix>`` and the given znodes; return how many.

    The parents (``/<prefix>``, ``/<prefix>/v1``, ``/<prefix>/v1/batch``,
    ``/<prefix>/v1/interactive``) are created with empty data, as Curator does,
    if missing; ``counters`` become ``state`` znodes (created or overwritten).
    The znodes are created in pipelined transactions bounded in ops and bytes.
    Raises SeedError naming the failing paths if ZooKeeper refuses any znode
    (e.g. one already exists, or a ``state`` znode also given in ``counters``);
    the batches before it and those already in flight may have been applied.
    """
    for session_type in SessionType:
        client.ensure_path(store_path(prefix, session_type))
    for session_type, next_session_id in (counters or {}).items():
        _write_counter(client, store_path(prefix, session_type, STATE_ZNODE), next_session_id)

    def paths_and_data() -> Iterable[Tuple[str, bytes]]:
        for znode in znodes:
            if not znode.name or "/" in znode.name:
                raise ValueError(f"znode name {znode.name!r} is not a single path component")
            yield store_path(prefix, znode.type, znode.name), znode.data

    in_flight: Deque[Tuple[List[Tuple[str, bytes]], Any]] = deque()
    failures: List[Tuple[str, str]] = []
    created = 0

    def settle_oldest() -> None:
        nonlocal created
        batch, pending = in_flight.popleft()
        batch_failures = _failures(client, batch, pending)
        failures.extend(batch_failures)
        if not batch_failures:
            created += len(batch)

    try:
        for batch in _transaction_batches(paths_and_data()):
            if len(in_flight) >= MAX_TRANSACTIONS_IN_FLIGHT:
                settle_oldest()
            if failures:
                break
            in_flight.append((batch, _submit(client, batch)))
    finally:
        while in_flight:
            settle_oldest()
    if failures:
        shown = "; ".join(f"{path}: {error}" for path, error in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        raise SeedError(
            f"ZooKeeper refused znodes under /{prefix}: {shown}{more} "
            f"({created} znodes were created)"
        )
    return created


# --------------------------------------------------------------------------- scenarios

MIX_CATEGORIES = (
    "app-finished",
    "app-forgotten",
    "never-submitted",
    "app-active",
    "within-grace",
    "not-a-yarn-app",
    "corrupt",
)
"""The kinds of session a scenario mixes; all but ``corrupt`` are also the expected reason."""

DEFAULT_MIX: Dict[str, float] = {
    "app-forgotten": 0.72,
    "app-finished": 0.10,
    "never-submitted": 0.08,
    "app-active": 0.05,
    "within-grace": 0.04,
    "not-a-yarn-app": 0.005,
    "corrupt": 0.005,
}

_VERDICT_OF_CATEGORY = {
    "app-finished": Verdict.STALE,
    "app-forgotten": Verdict.STALE,
    "never-submitted": Verdict.STALE,
    "app-active": Verdict.LIVE,
    "within-grace": Verdict.LIVE,
    "not-a-yarn-app": Verdict.UNKNOWN,
}

SCENARIO_LIVY_VERSIONS = ("0.5", "0.7", "0.9")
_LIVY_VERSION_CUMULATIVE_WEIGHTS = (0.3, 0.7, 1.0)
INTERACTIVE_FRACTION = 0.1
ID_GAP_PROBABILITY = 0.003
_OWNERS = ("adfuser", "adfuser", "adfuser", "alice", "bob", None)
_INTERACTIVE_KINDS = ("spark", "pyspark", "sparkr", "shared", "sql")
_FINISHED_STATES = ("FINISHED",) * 8 + ("FAILED",) * 3 + ("KILLED",)
LIVY_SERVER_USER = "livy"
"""The YARN user of an app submitted without impersonation."""


class Scenario(NamedTuple):
    """A seeded incident store and the truth about it.

    ``old_znodes`` are meant to be created while the server's clock is days in
    the past (a faketime server), ``recent_znodes`` on the real clock; ``apps``
    is what the ResourceManager remembers; ``expected`` maps every session
    znode to ``(verdict value, reason)`` for zkjanitor's default 600 s grace.
    """

    old_znodes: List[SeedZnode]
    recent_znodes: List[SeedZnode]
    apps: List[Dict[str, Any]]
    counters: Dict[SessionType, int]
    expected: Dict[Tuple[SessionType, int], Tuple[str, str]]


def _category_counts(
    sessions: int, mix: Mapping[str, float], retained_finished_apps: int
) -> Dict[str, int]:
    """How many sessions of each category.

    Largest remainders; each category with a positive fraction gets at least
    one session when there are enough; finished apps beyond the RM's
    retention become forgotten ones.
    """
    unknown = set(mix) - set(MIX_CATEGORIES)
    if unknown:
        raise ValueError(f"unknown mix categories {sorted(unknown)}; expected {MIX_CATEGORIES}")
    if any(fraction < 0 for fraction in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError("mix fractions must be non-negative with a positive sum")
    total = sum(mix.values())
    present = [category for category in MIX_CATEGORIES if mix.get(category, 0) > 0]
    quotas = {category: sessions * mix[category] / total for category in present}
    counts = {category: int(quotas[category]) for category in present}
    by_remainder = sorted(present, key=lambda category: counts[category] - quotas[category])
    for category in by_remainder[: sessions - sum(counts.values())]:
        counts[category] += 1
    if sessions >= len(present):
        for category in present:
            if counts[category] == 0:
                donor = max(present, key=lambda other: counts[other])
                counts[donor] -= 1
                counts[category] += 1
    overflow = counts.get("app-finished", 0) - max(0, retained_finished_apps)
    if overflow > 0:
        counts["app-finished"] -= overflow
        counts["app-forgotten"] = counts.get("app-forgotten", 0) + overflow
    return counts


def _chronological_categories(
    counts: Mapping[str, int], rng: random.Random
) -> List[Tuple[str, bool]]:
    """``(category, recent)`` in session-creation order, oldest first.

    Forgotten apps come before the finished ones the RM still remembers (it
    keeps only the latest); never-submitted, corrupt, Kubernetes and
    long-running sessions are scattered among them. The newest sessions,
    created on the real clock (``recent``), are half the active ones and all
    the young ones.
    """
    active = counts.get("app-active", 0)
    old_active = active // 2
    ordered = ["app-forgotten"] * counts.get("app-forgotten", 0)
    ordered += ["app-finished"] * counts.get("app-finished", 0)
    keyed = [(float(position), category) for position, category in enumerate(ordered)]
    scattered = (
        ["never-submitted"] * counts.get("never-submitted", 0)
        + ["corrupt"] * counts.get("corrupt", 0)
        + ["not-a-yarn-app"] * counts.get("not-a-yarn-app", 0)
        + ["app-active"] * old_active
    )
    keyed += [(rng.uniform(0, len(ordered)), category) for category in scattered]
    keyed.sort(key=lambda item: item[0])
    newest = ["app-active"] * (active - old_active)
    newest += ["within-grace"] * counts.get("within-grace", 0)
    rng.shuffle(newest)
    return [(category, False) for _, category in keyed] + [(category, True) for category in newest]


def _rsc_driver_uri(rng: random.Random) -> str:
    """``rsc://<client uuid>:<secret>@<driver host>:<port>``, the secret in the userinfo."""
    client_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    secret = "%032x" % rng.getrandbits(128)
    return f"rsc://{client_id}:{secret}@127.0.0.1:{rng.randint(30000, 60999)}"


def _session_conf(rng: random.Random) -> Dict[str, str]:
    """A Spark conf as users send it, including a storage key that must never be printed."""
    secret = "".join(rng.choices(TAG_ALPHABET, k=40))
    return {
        "spark.executor.instances": str(rng.choice((2, 4, 8))),
        "spark.hadoop.fs.s3a.secret.key": secret,
    }


class _ScenarioBuilder:
    """Accumulates one Scenario: the random source, id and app counters, and the output."""

    def __init__(self, rng: random.Random, now_ms: int, cluster_ts: int) -> None:
        self.rng = rng
        self.now_ms = now_ms
        self.cluster_ts = cluster_ts
        self.next_ids = {session_type: 0 for session_type in SessionType}
        self.app_seq = 0
        self.old_znodes: List[SeedZnode] = []
        self.recent_znodes: List[SeedZnode] = []
        self.apps: List[Dict[str, Any]] = []
        self.expected: Dict[Tuple[SessionType, int], Tuple[str, str]] = {}

    def _next_id(self, session_type: SessionType) -> int:
        """The next session id of a type; now and then skip a few, as failed creations do."""
        session_id = self.next_ids[session_type]
        gap = self.rng.randint(1, 3) if self.rng.random() < ID_GAP_PROBABILITY else 0
        self.next_ids[session_type] = session_id + 1 + gap
        return session_id

    def _next_app_id(self) -> str:
        """A new YARN id; other workloads' apps take the sequence numbers in between."""
        self.app_seq += self.rng.randint(1, 3)
        return yarn_app_id(self.cluster_ts, self.app_seq)

    def _finished_app(self, app_tag: str, user: str, finished_position: float) -> str:
        """Record an app that ended days ago (earlier for a smaller position); return its id."""
        app_id = self._next_app_id()
        days_ago = 9 - 8 * finished_position
        finished_ms = self.now_ms - int(days_ago * DAY_MS) + self.rng.randint(-HOUR_MS, HOUR_MS)
        self.apps.append(
            yarn_app(
                app_id, app_tag, state=self.rng.choice(_FINISHED_STATES), user=user,
                started_ms=finished_ms - self.rng.randint(MINUTE_MS, 2 * HOUR_MS),
                finished_ms=finished_ms,
            )
        )
        return app_id

    def _active_app(self, app_tag: str, user: str, recent: bool, found_by_tag: bool) -> str:
        """Record an app still queued or running; return its id."""
        app_id = self._next_app_id()
        if recent:
            age_ms = self.rng.randint(10 * SECOND_MS, 5 * MINUTE_MS)
        else:
            age_ms = self.rng.randint(2 * DAY_MS, 9 * DAY_MS)
        state = "ACCEPTED" if found_by_tag and self.rng.random() < 0.5 else "RUNNING"
        self.apps.append(
            yarn_app(
                app_id, app_tag, state=state, user=user,
                started_ms=self.now_ms - age_ms,
            )
        )
        return app_id

    def _optional_fields(
        self, session_type: SessionType, session_id: int, livy_version: str, has_app: bool
    ) -> Dict[str, Any]:
        """livy_record keywords beyond the identity: a name, and the interactive settings."""
        rng = self.rng
        fields: Dict[str, Any] = {}
        if livy_version != "0.5" and rng.random() < 0.2:
            fields["name"] = f"{rng.choice(('nightly-etl', 'ingest', 'report'))}-{session_id}"
        if session_type is SessionType.INTERACTIVE:
            fields["kind"] = rng.choice(_INTERACTIVE_KINDS)
            fields["heartbeat_timeout_s"] = rng.choice((0, 0, 60, 600))
            if has_app:
                fields["rsc_driver_uri"] = _rsc_driver_uri(rng)
            if livy_version == "0.9":
                fields["conf"] = _session_conf(rng)
                fields["ttl"] = rng.choice((None, "8h"))
                fields["idle_timeout"] = rng.choice((None, "30m"))
                fields["driver_memory"] = rng.choice((None, "4g"))
        return fields

    def add(
        self,
        category: str,
        *,
        recent: bool,
        finished_position: float = 0.0,
        found_by_tag: bool = False,
        corrupt_reason: Optional[str] = None,
    ) -> None:
        """Add one session of ``category``, its app (if YARN knows one) and its expectation."""
        rng = self.rng
        session_type = (
            SessionType.INTERACTIVE if rng.random() < INTERACTIVE_FRACTION else SessionType.BATCH
        )
        session_id = self._next_id(session_type)
        if category == "not-a-yarn-app":
            livy_version = "0.9"  # Livy supports Kubernetes from 0.9
        else:
            livy_version = rng.choices(
                SCENARIO_LIVY_VERSIONS, cum_weights=_LIVY_VERSION_CUMULATIVE_WEIGHTS
            )[0]
        app_tag = app_tag_for(session_type, session_id, livy_version, rng)
        owner = rng.choice(_OWNERS)
        proxy_user = owner if owner is not None and rng.random() < 0.2 else None
        yarn_user = proxy_user or LIVY_SERVER_USER

        app_id: Optional[str] = None
        if category == "app-finished":
            app_id = self._finished_app(app_tag, yarn_user, finished_position)
        elif category == "app-active":
            yarn_id = self._active_app(app_tag, yarn_user, recent, found_by_tag)
            app_id = None if found_by_tag else yarn_id
        elif category in ("app-forgotten", "corrupt"):
            app_id = self._next_app_id()
        elif category == "not-a-yarn-app":
            app_id = "spark-%032x" % rng.getrandbits(128)

        record = livy_record(
            session_type, session_id, livy_version=livy_version, app_tag=app_tag,
            app_id=app_id, owner=owner, proxy_user=proxy_user,
            **self._optional_fields(session_type, session_id, livy_version, app_id is not None),
        )
        if corrupt_reason is None:
            data = encode_record(record)
            expected = (_VERDICT_OF_CATEGORY[category].value, category)
        else:
            data = CORRUPT_PAYLOADS[corrupt_reason](record)
            expected = (Verdict.CORRUPT.value, corrupt_reason)
        self.expected[(session_type, session_id)] = expected
        znodes = self.recent_znodes if recent else self.old_znodes
        znodes.append(SeedZnode(session_type, str(session_id), data))

    def build(self, categories: Sequence[Tuple[str, bool]]) -> Scenario:
        """Add every session in order, then the counters (max id + 1 per type)."""
        finished_total = max(1, sum(1 for category, _ in categories if category == "app-finished"))
        finished_seen = corrupt_seen = recent_active_seen = 0
        corrupt_reasons = list(CORRUPT_PAYLOADS)
        for category, recent in categories:
            if category == "app-finished":
                self.add(category, recent=recent, finished_position=finished_seen / finished_total)
                finished_seen += 1
            elif category == "corrupt":
                reason = corrupt_reasons[corrupt_seen % len(corrupt_reasons)]
                self.add(category, recent=recent, corrupt_reason=reason)
                corrupt_seen += 1
            elif category == "app-active" and recent:
                # Every other young active session is still unknown by id: found by its tag.
                self.add(category, recent=True, found_by_tag=recent_active_seen % 2 == 0)
                recent_active_seen += 1
            else:
                self.add(category, recent=recent)
        counters = {session_type: 0 for session_type in SessionType}
        for session_type, session_id in self.expected:
            counters[session_type] = max(counters[session_type], session_id + 1)
        return Scenario(self.old_znodes, self.recent_znodes, self.apps, counters, self.expected)


def build_scenario(
    sessions: int,
    *,
    seed: int = 0,
    now_ms: int,
    cluster_ts: Optional[int] = None,
    mix: Optional[Mapping[str, float]] = None,
    retained_finished_apps: int = 1000,
) -> Scenario:
    """A deterministic incident store of ``sessions`` session znodes (see Scenario).

    Mostly batch, some interactive; Livy 0.5, 0.7 and 0.9 records; ids in
    creation order with a few gaps. ``mix`` gives the fraction of each of
    MIX_CATEGORIES (default DEFAULT_MIX, mostly apps the RM has forgotten);
    at most ``retained_finished_apps`` finished apps are remembered by the RM,
    the rest are forgotten. ``cluster_ts`` (the RM start, in the app ids)
    defaults to 60 days before ``now_ms``.
    """
    if sessions < 0:
        raise ValueError("sessions must be >= 0")
    rng = random.Random(seed)
    counts = _category_counts(sessions, DEFAULT_MIX if mix is None else mix, retained_finished_apps)
    categories = _chronological_categories(counts, rng)
    builder = _ScenarioBuilder(
        rng, now_ms, cluster_ts if cluster_ts is not None else now_ms - 60 * DAY_MS
    )
    return builder.build(categories)
