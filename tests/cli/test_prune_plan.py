"""A reviewable plan: ``prune --plan-out FILE`` then ``prune --apply --plan FILE`` deletes exactly those, unchanged."""

from __future__ import annotations

import json
import time

from tests.support.prune_store import prune, seed_incident, snapshot
from zkjanitor.backup import store_of
from zkjanitor.plan_file import write_plan
from zkjanitor.render import describe_selection


def deleted(result) -> set:
    assert result.exit_code in (0, 4), result.stderr
    return {s["path"] for s in json.loads(result.stdout)["sessions"] if s["action"] == "deleted"}


def test_a_plan_round_trip_deletes_exactly_the_reviewed_sessions(old_zk_server, old_zk_client, prefix, yarn_rm,
                                                                tmp_path):
    seed_incident(old_zk_client, prefix, yarn_rm)
    plan = tmp_path / "plan.json"
    dry = prune(old_zk_server, prefix, yarn_rm, "--older-than", "5d", "--plan-out", str(plan), "--format", "json")
    assert dry.exit_code == 0, dry.stderr
    planned = {s["path"] for s in json.loads(plan.read_text())["sessions"]}
    assert planned == {s["path"] for s in json.loads(dry.stdout)["sessions"]} != set()
    changed = sorted(planned)[0]
    old_zk_client.set(changed, b'{"id":0,"written":"by Livy since the plan"}')
    before = snapshot(old_zk_client, prefix)

    applied = prune(old_zk_server, prefix, yarn_rm, "--apply", "--yes", "--plan", str(plan), "--backup",
                    str(tmp_path / "b.jsonl"), "--format", "json")

    document = json.loads(applied.stdout)
    assert deleted(applied) == planned - {changed}
    assert document["plan_left_out"] == [{"path": changed, "why": "changed since the plan"}]
    assert set(before) - set(snapshot(old_zk_client, prefix)) == planned - {changed}
    assert "1 session(s) of the plan are left out" in applied.stderr


def test_a_plan_never_widens_a_prune(old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    seed_incident(old_zk_client, prefix, yarn_rm)
    plan = tmp_path / "plan.json"
    assert prune(old_zk_server, prefix, yarn_rm, "--older-than", "5d", "--limit", "3", "--plan-out",
                 str(plan)).exit_code == 0

    applied = prune(old_zk_server, prefix, yarn_rm, "--apply", "--yes", "--plan", str(plan), "--backup",
                    str(tmp_path / "b.jsonl"), "--format", "json")

    assert len(deleted(applied)) == 3  # many more are stale and older than 5d: only the plan's three go


def test_a_plan_is_refused_for_another_store_when_edited_or_too_old(old_zk_server, old_zk_client, prefix, yarn_rm,
                                                                    tmp_path):
    seed_incident(old_zk_client, prefix, yarn_rm)
    plan = tmp_path / "plan.json"
    assert prune(old_zk_server, prefix, yarn_rm, "--older-than", "5d", "--plan-out", str(plan)).exit_code == 0
    before = snapshot(old_zk_client, prefix)

    other = prune(old_zk_server, prefix + "-other", yarn_rm, "--apply", "--yes", "--plan", str(plan))
    edited = tmp_path / "edited.json"
    edited.write_text(plan.read_text().replace('"older_than_seconds": 432000.0', '"older_than_seconds": 1.0'))
    tampered = prune(old_zk_server, prefix, yarn_rm, "--apply", "--yes", "--plan", str(edited))
    stale = tmp_path / "old.json"
    write_plan(stale, store=store_of(old_zk_server.connect_string, prefix), criteria={"older_than_seconds": 1.0},
               selected=[], now_ms=int(time.time() * 1000) - 2 * 3600 * 1000)
    too_old = prune(old_zk_server, prefix, yarn_rm, "--apply", "--yes", "--plan", str(stale))

    for result, words in ((other, "is for the store"), (tampered, "changed after it was made"),
                          (too_old, "more than --plan-max-age allows")):
        assert result.exit_code == 2, result.stderr
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot(old_zk_client, prefix) == before


def test_plan_options_that_contradict_each_other_are_one_line(old_zk_server, prefix, yarn_rm, tmp_path):
    plan = tmp_path / "plan.json"
    cases = [(["--older-than", "1d", "--plan-out", str(plan), "--apply", "--yes"], "--plan-out writes a dry run"),
             (["--older-than", "1d", "--plan", str(plan)], "--plan carries its own selection"),
             ([], "prune needs --older-than")]
    for args, words in cases:
        result = prune(old_zk_server, prefix, yarn_rm, *args)
        assert result.exit_code == 2 and words in result.stderr, result.stderr
    assert not plan.exists()


def test_the_confirmation_says_what_goes(old_zk_server, old_zk_client, prefix, yarn_rm):
    from zkjanitor.janitor import Janitor, PruneCriteria
    from zkjanitor.sources.yarn import YarnSource
    from zkjanitor.zk.client import ZkOptions
    from zkjanitor.zk.store import ZooKeeperStore

    seed_incident(old_zk_client, prefix, yarn_rm)
    with ZooKeeperStore.open(ZkOptions(old_zk_server.connect_string), prefix) as store, \
            Janitor(store, YarnSource([yarn_rm.url])) as janitor:
        selected = janitor.plan_prune(PruneCriteria(older_than_seconds=5 * 86400)).selected

    text = describe_selection(selected)
    assert text.startswith(f"{len(selected):,} session znode(s) (app-")
    assert "oldest 10d" in text and "youngest" in text and "top owners: " in text


def test_a_plan_file_is_never_overwritten(old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    seed_incident(old_zk_client, prefix, yarn_rm)
    plan = tmp_path / "plan.json"
    plan.write_text("someone else's plan\n")

    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", "5d", "--plan-out", str(plan))

    assert result.exit_code == 2
    assert f"cannot write plan file {plan}: it already exists (never overwritten)" in result.stderr
    assert plan.read_text() == "someone else's plan\n"
