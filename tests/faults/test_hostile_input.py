"""A corpus of hostile znodes in a real ZooKeeper: each is reported, none breaks the run.

The corpus (built with the seeder's payload builders) holds a 1 MB znode, JSON
nested 100 000 deep, Latin-1 bytes, a 5 000-digit number, numbers beyond Livy's
Int, an id that disagrees with its name, a lone surrogate in a string, child
names that are not sessions (``0012``, ``-1``, ``2147483648``, ``1.tmp``,
Arabic-Indic digits), a session znode the caller may not read (a digest ACL:
NoAuth), a session znode with a child, and ordinary stale and live sessions
that must still be classified. ``scan`` (JSON and table, through the real
process) reports each one; ``prune --apply --include-corrupt`` deletes only
sessions, backs every one up byte for byte, and ``restore`` brings it all back.

The 150 000-children parent takes about a minute and is marked slow.
"""

from __future__ import annotations

import json
import time
from typing import Callable, Dict, Iterator, NamedTuple, Tuple

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl

from tests.support.fault_support import (
    CliProcess,
    check_restored,
    close_client,
    read_tree,
    restore_args,
    run_cli_process,
    store_root,
)
from tests.support.helpers import run_cli
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import (
    SeedZnode,
    counter_record,
    deeply_nested_payload,
    encode_record,
    json_array_payload,
    livy_record,
    non_utf8_payload,
    oversized_payload,
    seed,
    store_path,
    truncated_json,
)
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import ZooKeeperServer

BATCH, INTERACTIVE = SessionType.BATCH, SessionType.INTERACTIVE
DAY_MS = 86_400_000
OWNER_DIGEST = ("other", "secret")
"""The only identity allowed to read the NoAuth znode (the test reads it back with it)."""


def _record(session_type: SessionType, session_id: int, **fields: object) -> Dict[str, object]:
    kind = "batch" if session_type is BATCH else "session"
    record = livy_record(session_type, session_id, livy_version="0.7" if session_type is BATCH else "0.8",
                         app_tag=f"livy-{kind}-{session_id}-abcdefgh", app_id=f"application_1_{session_id:04d}",
                         owner="alice")
    record.update(fields)
    return record


class Hostile(NamedTuple):
    """One corpus entry: its data, and the (verdict, reason) scan must give it."""

    what: str
    type: SessionType
    id: int
    data: Callable[[], bytes]
    expected: Tuple[str, str]


FINISHED_APPS = (1, 20, 21)
"""Sessions whose YARN app finished days ago: stale, so prune deletes them."""

CORPUS = [
    Hostile("1 MB of data (a valid record padded)", BATCH, 1,
            lambda: oversized_payload(_record(BATCH, 1)), ("stale", "app-finished")),
    Hostile("JSON nested 100 000 deep", BATCH, 2, lambda: deeply_nested_payload(_record(BATCH, 2)),
            ("corrupt", "bad-json")),
    Hostile("Latin-1, not UTF-8", BATCH, 3, lambda: non_utf8_payload(_record(BATCH, 3)), ("corrupt", "not-utf8")),
    Hostile("truncated JSON", BATCH, 4, lambda: truncated_json(_record(BATCH, 4)), ("corrupt", "bad-json")),
    Hostile("a JSON array", BATCH, 5, lambda: json_array_payload(_record(BATCH, 5)), ("corrupt", "not-an-object")),
    Hostile("no data at all", BATCH, 6, lambda: b"", ("corrupt", "empty")),
    Hostile("a 5 000-digit number in an unknown field", BATCH, 7,
            lambda: encode_record(_record(BATCH, 7))[:-1] + b',"big":' + b"9" * 5000 + b"}", ("corrupt", "bad-json")),
    Hostile("1e400 (infinity) as the version", BATCH, 8,
            lambda: encode_record(_record(BATCH, 8))[:-1] + b',"version":1e400}', ("corrupt", "bad-field")),
    Hostile("version 2^31, beyond Livy's Int", BATCH, 9, lambda: encode_record(_record(BATCH, 9, version=2**31)),
            ("corrupt", "bad-field")),
    Hostile("heartbeatTimeoutS -2^31-1, beyond Livy's Int", INTERACTIVE, 10,
            lambda: encode_record(_record(INTERACTIVE, 10, heartbeatTimeoutS=-(2**31) - 1)),
            ("corrupt", "bad-field")),
    Hostile("an id of 2^40 in znode 11", BATCH, 11, lambda: encode_record(_record(BATCH, 11, id=2**40)),
            ("corrupt", "id-mismatch")),
    Hostile("a lone surrogate as the owner (a JSON escape)", BATCH, 14,
            lambda: encode_record(_record(BATCH, 14, owner="OWNER"))
            .replace(b'"OWNER"', b'"\\ud800 [red]x[/red]"'),
            ("live", "within-grace")),
    Hostile("an ordinary stale session", BATCH, 20, lambda: encode_record(_record(BATCH, 20)),
            ("stale", "app-finished")),
    Hostile("an ordinary stale interactive session", INTERACTIVE, 21, lambda: encode_record(_record(INTERACTIVE, 21)),
            ("stale", "app-finished")),
    Hostile("an ordinary young session", BATCH, 22, lambda: encode_record(_record(BATCH, 22)),
            ("live", "within-grace")),
]
SESSION_WITH_CHILD = 13
"""A session znode that has a child: Livy never writes one, so it is an anomaly, never a session to delete."""
UNREADABLE = 12
"""A session znode readable only with OWNER_DIGEST: the scanning client gets NoAuth."""
OTHER_CHILDREN = ["-1", "0012", "1.tmp", "2147483648", "99999999999999999999", "\u0661\u0662"]
"""Child names that are not Livy session ids: listed, never decoded, never deleted."""


class Corpus(NamedTuple):
    prefix: str
    before: Dict[str, bytes]


def _reader(server: ZooKeeperServer) -> KazooClient:
    """A client that may read every znode of the corpus, the NoAuth one too."""
    client = KazooClient(hosts=server.connect_string, timeout=10, auth_data=[("digest", ":".join(OWNER_DIGEST))],
                         connection_retry={"max_tries": 3}, command_retry={"max_tries": 3})
    client.start(timeout=15)
    return client


@pytest.fixture
def reader(zk_server) -> Iterator[KazooClient]:
    client = _reader(zk_server)
    yield client
    close_client(client)


@pytest.fixture
def corpus(reader, prefix, yarn_rm) -> Corpus:
    znodes = [SeedZnode(entry.type, str(entry.id), entry.data()) for entry in CORPUS]
    znodes += [SeedZnode(BATCH, name, b"{}") for name in OTHER_CHILDREN]
    znodes.append(SeedZnode(BATCH, str(SESSION_WITH_CHILD), encode_record(_record(BATCH, SESSION_WITH_CHILD))))
    seed(reader, prefix, znodes, counters={BATCH: 23, INTERACTIVE: 22})
    reader.create(store_path(prefix, BATCH, f"{SESSION_WITH_CHILD}/child"), b"x")
    reader.create(store_path(prefix, BATCH, str(UNREADABLE)), encode_record(_record(BATCH, UNREADABLE)),
                  acl=[make_digest_acl(*OWNER_DIGEST, all=True)])
    finished = int(time.time() * 1000) - 5 * DAY_MS
    for session_id in (*FINISHED_APPS, SESSION_WITH_CHILD, UNREADABLE):
        kind = "batch" if session_id != 21 else "session"
        yarn_rm.add_app(id=f"application_1_{session_id:04d}", state="FINISHED", finishedTime=finished,
                        applicationTags=f"livy-{kind}-{session_id}-abcdefgh")
    return Corpus(prefix, read_tree(reader, store_root(prefix)))


def _expected_verdicts() -> Dict[Tuple[str, int], Tuple[str, str]]:
    expected = {(entry.type.value, entry.id): entry.expected for entry in CORPUS}
    return expected


def _scan_args(zk_server, corpus: Corpus, yarn_rm: YarnDouble, *extra: str):
    return ["scan", "--zk", zk_server.connect_string, "--prefix", corpus.prefix, "--yarn", yarn_rm.url, *extra]


def test_scan_json_reports_every_hostile_znode_and_still_classifies_the_rest(zk_server, corpus, yarn_rm, tmp_path):
    outcome = run_cli_process(_scan_args(zk_server, corpus, yarn_rm, "--format", "json"), cwd=tmp_path)

    assert outcome.code == 0, outcome.stderr
    document = outcome.json()
    got = {(s["type"], s["id"]): (s["verdict"], s["reason"]) for s in document["sessions"]}
    assert got == _expected_verdicts()
    by_id = {s["id"]: s for s in document["sessions"]}
    assert by_id[1]["bytes"] == len(corpus.before[store_path(corpus.prefix, BATCH, "1")]) > 1_000_000
    assert by_id[14]["owner"] == "\ud800 [red]x[/red]"
    assert document["parents"]["batch"]["other_children"] == sorted(OTHER_CHILDREN)
    assert document["unreadable"] == [{"path": store_path(corpus.prefix, BATCH, str(UNREADABLE)), "error": "NoAuth"}]
    assert document["summary"]["unreadable"] == 1
    assert document["anomalies"] == [{"path": store_path(corpus.prefix, BATCH, str(SESSION_WITH_CHILD)),
                                      "why": "has-children"}]
    assert document["counters"] == {"batch": 23, "interactive": 22}
    warnings = " ".join(document["warnings"])
    assert "children that are not sessions (left alone): -1, 0012, 1.tmp, 2147483648" in warnings
    assert "1 session znode(s) could not be read" in warnings and "NoAuth" in warnings
    assert "could not be read" in outcome.stderr  # warnings go to stderr too, never into the JSON


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_scan_table_prints_every_hostile_znode_on_any_terminal_encoding(
    zk_server, corpus, yarn_rm, tmp_path, encoding
):
    outcome = run_cli_process(_scan_args(zk_server, corpus, yarn_rm, "--show", "all"), cwd=tmp_path,
                              env={"PYTHONIOENCODING": encoding})

    assert outcome.code == 0, outcome.stderr
    assert "Traceback" not in outcome.stderr
    rows = [[cell.strip() for cell in line.replace("\u2502", "|").split("|")] for line in outcome.stdout.splitlines()]
    shown = {(row[0], int(row[1])): (row[2], row[3]) for row in rows
             if len(row) > 3 and row[0] in ("batch", "interactive") and row[1].isdigit()}
    # The table names the deciding source after the reason; a corrupt znode was never asked about.
    assert shown == {key: (verdict, reason if verdict == "corrupt" else f"{reason} (yarn)")
                     for key, (verdict, reason) in _expected_verdicts().items()}
    assert "\\ud800 [red]x[/red]" in outcome.stdout  # escaped and literal, not styled
    assert "could not be read" in outcome.stderr and "not sessions" in outcome.stderr


def test_prune_deletes_only_sessions_and_restore_brings_every_byte_back(
    zk_server, reader, corpus, yarn_rm, tmp_path
):
    backup = tmp_path / "backup.jsonl"
    outcome = run_cli_process(
        ["prune", "--zk", zk_server.connect_string, "--prefix", corpus.prefix, "--yarn", yarn_rm.url,
         "--older-than", "0s", "--include-corrupt", "--apply", "--yes", "--backup", str(backup), "--format", "json"],
        cwd=tmp_path,
    )

    assert outcome.code == 0, outcome.stderr  # the znode with a child is not a session: never selected
    actions = {(s["type"], s["id"]): (s["action"], s.get("detail")) for s in outcome.json()["sessions"]}
    expected_deleted = {key for key, (verdict, _) in _expected_verdicts().items() if verdict in ("stale", "corrupt")}
    assert {key for key, (action, _) in actions.items() if action == "deleted"} == expected_deleted
    assert (BATCH.value, SESSION_WITH_CHILD) not in actions
    after = read_tree(reader, store_root(corpus.prefix))
    batch_dir = store_path(corpus.prefix, BATCH)
    for name in [*OTHER_CHILDREN, "state", str(UNREADABLE), "14", "22", str(SESSION_WITH_CHILD)]:
        assert after[f"{batch_dir}/{name}"] == corpus.before[f"{batch_dir}/{name}"]

    restored = run_cli_process(restore_args(zk_server.connect_string, corpus.prefix, backup), cwd=tmp_path)
    check_restored(reader, store_root(corpus.prefix), corpus.before, restored)


def test_an_unreadable_state_counter_is_reported_and_the_scan_goes_on(zk_server, reader, prefix, yarn_rm):
    seed(reader, prefix, [SeedZnode(BATCH, "1", encode_record(_record(BATCH, 1)))], counters={INTERACTIVE: 0})
    reader.create(store_path(prefix, BATCH, "state"), encode_record(counter_record(2)),
                  acl=[make_digest_acl(*OWNER_DIGEST, all=True)])
    result = run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--format", "json"])

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["sessions"] == 1 and document["counters"]["batch"] is None
    assert "state (Livy's id counter) is unreadable (NoAuth): check its ACL and --zk-auth or --zk-sasl" in result.stderr


def test_an_unreadable_session_directory_is_a_clear_error_not_a_lost_connection(zk_server, reader, prefix, yarn_rm):
    seed(reader, prefix, [SeedZnode(BATCH, "1", encode_record(_record(BATCH, 1)))], counters={BATCH: 2})
    reader.set_acls(store_path(prefix, BATCH), [make_digest_acl(*OWNER_DIGEST, all=True)])
    result = run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url])

    assert result.exit_code == 3
    assert result.stderr == (f"zkjanitor: error: ZooKeeper refused to list {store_path(prefix, BATCH)} (NoAuth): "
                             "check its ACL and --zk-auth or --zk-sasl\n")


# --------------------------------------------------------------------------- 150 000 children

HUGE_PARENT_CHILDREN = 150_500
"""ids 0..150 499 make a getChildren reply of about 1.5 MB: Java clients' 1 MB limit breaks near 116 000."""


@pytest.fixture
def big_server() -> Iterator[ZooKeeperServer]:
    """A server of its own for the huge parent (150 000 znodes would slow every other test)."""
    with ZooKeeperServer(heap="768m") as server:
        yield server


def _small_record(session_id: int) -> bytes:
    return b'{"id":%d,"appId":null,"appTag":"livy-batch-%d-abcdefgh","version":1}' % (session_id, session_id)


@pytest.mark.slow
def test_a_parent_with_150_000_children_is_listed_in_full_with_a_warning(big_server, prefix, yarn_rm, tmp_path):
    client = _reader(big_server)
    try:
        znodes = (SeedZnode(BATCH, str(i), _small_record(i)) for i in range(HUGE_PARENT_CHILDREN))
        assert seed(client, prefix, znodes, counters={BATCH: HUGE_PARENT_CHILDREN, INTERACTIVE: 0}) == \
            HUGE_PARENT_CHILDREN
    finally:
        close_client(client)
    args = ["scan", "--zk", big_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url]
    runs = {"json": CliProcess([*args, "--format", "json"], cwd=tmp_path).finish(300)}
    runs["table"] = CliProcess(args, cwd=tmp_path).finish(300)

    for run in runs.values():
        assert run.code == 0, run.stderr
        assert f"has {HUGE_PARENT_CHILDREN + 1:,} children" in run.stderr
        assert "Java clients (Livy, zkCli) fail at 1 MB" in run.stderr
    document = runs["json"].json()
    assert document["summary"]["sessions"] == HUGE_PARENT_CHILDREN
    assert document["summary"]["live"] == HUGE_PARENT_CHILDREN  # young, no app yet: within the grace period
    assert document["parents"]["batch"]["children_reply_bytes"] > 1_048_576
    assert {s["id"] for s in document["sessions"]} == set(range(HUGE_PARENT_CHILDREN))
    assert f"{HUGE_PARENT_CHILDREN:,}" in runs["table"].stdout

