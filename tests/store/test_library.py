"""``from zkjanitor import Janitor``: the architecture page's example, run against a real ZooKeeper and YARN."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.prune_store import seed_incident, snapshot
from zkjanitor.backup import read_backup
from zkjanitor.model import Verdict
from zkjanitor.prune import Outcome
from zkjanitor.sources.yarn import YarnSource
from zkjanitor.zk.client import ZkOptions
from zkjanitor.zk.store import ZooKeeperStore


def test_scan_plan_and_apply_in_a_few_lines(old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    from zkjanitor import Janitor, PruneCriteria

    incident = seed_incident(old_zk_client, prefix, yarn_rm)
    before = snapshot(old_zk_client, prefix)

    with ZooKeeperStore.open(ZkOptions(old_zk_server.connect_string), prefix) as store, \
            Janitor(store, YarnSource([yarn_rm.url])) as janitor:
        result = janitor.scan()
        with janitor.locked():
            plan = janitor.plan_prune(PruneCriteria(older_than_seconds=3600))
            during = {path: z for path, z in snapshot(old_zk_client, prefix).items() if "/zkjanitor-lock" not in path}
            assert during == before  # a plan deletes nothing
            outcome = janitor.apply(plan, tmp_path / "backup.jsonl")

    verdicts = {(r.session.type.value, r.session.id): (r.verdict.value, r.reason) for r in result.reports}
    assert verdicts == incident.expected
    assert {r.source for r in result.reports if r.verdict is not Verdict.CORRUPT} == {"yarn"}
    stale = [r for r in result.reports if r.verdict is Verdict.STALE]
    assert Counter(o.action for o in outcome.outcomes) == {Outcome.DELETED: len(stale)}
    after = snapshot(old_zk_client, prefix)
    assert set(before) - set(after) == {r.session.path for r in stale}
    assert {e.path for e in read_backup(Path(tmp_path / "backup.jsonl")).entries} == {r.session.path for r in stale}
