"""``make demo``: zkjanitor against a local ZooKeeper holding a realistic incident.

Seeds ~40 000 Livy sessions (the size of the real incident: a scheduler that
never deleted its batches) into a real ZooKeeper — most of them created
"weeks ago" under libfaketime — starts a YARN ResourceManager double as an HA
pair (standby listed first) and, for one prune, a running Livy (the Livy REST
double) that still holds some dead batches, then runs the commands an operator
would type.
Everything runs on 127.0.0.1 and is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence

from kazoo.client import KazooClient

from zkjanitor.model import SessionType
from zkjanitor.testing.livy_double import LivyDouble
from zkjanitor.testing.seeder import build_scenario, seed
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import ZooKeeperServer

PREFIX = "livy"
OLD_CLOCK = "-20d"
LIVY_HOLDS = 200
"""Dead batches the demo's running Livy (the Livy REST double) still holds in memory."""


def _client(server: ZooKeeperServer) -> KazooClient:
    client = KazooClient(hosts=server.connect_string, timeout=10,
                         connection_retry={"max_tries": 3}, command_retry={"max_tries": 3})
    client.start(timeout=30)
    return client


def _say(text: str) -> None:
    print(f"\n\033[1m# {text}\033[0m" if sys.stdout.isatty() else f"\n# {text}", flush=True)


def _run(args: Sequence[str], env: dict) -> int:
    print("$ zkjanitor " + " ".join(shlex.quote(a) for a in args), flush=True)
    completed = subprocess.run([sys.executable, "-m", "zkjanitor", *args], env=env, check=False)
    print(f"(exit {completed.returncode})", flush=True)
    return completed.returncode


def demo(sessions: int, keep: bool = False) -> None:
    """Seed the incident, run the everyday commands, tear everything down.

    With ``keep``, ZooKeeper and the YARN double stay up until Ctrl-C, so the
    commands can be tried by hand against the same store.
    """
    now_ms = int(time.time() * 1000)
    scenario = build_scenario(sessions, seed=7, now_ms=now_ms)
    workdir = Path(tempfile.mkdtemp(prefix="zkjanitor-demo-"))
    _say(f"starting ZooKeeper with its clock at {OLD_CLOCK} and seeding {len(scenario.old_znodes):,} old sessions")
    server = ZooKeeperServer(data_dir=workdir / "zk", faketime=OLD_CLOCK)
    with server, YarnDouble(max_completed_apps=1000) as active, YarnDouble(ha_state="STANDBY") as standby:
        started = time.monotonic()
        client = _client(server)
        seed(client, PREFIX, scenario.old_znodes, counters=scenario.counters)
        client.stop()
        client.close()
        server.restart()
        client = _client(server)
        seed(client, PREFIX, scenario.recent_znodes)
        client.stop()
        client.close()
        print(f"seeded {len(scenario.old_znodes) + len(scenario.recent_znodes):,} znodes "
              f"in {time.monotonic() - started:.1f}s; YARN remembers {len(scenario.apps):,} apps")
        active.add_apps(scenario.apps)
        standby.set_active(active)

        env = dict(os.environ, ZKJANITOR_ZK=server.connect_string, ZKJANITOR_YARN=f"{standby.url},{active.url}")
        env.pop("NO_COLOR", None)
        print(f"export ZKJANITOR_ZK={server.connect_string}")
        print(f"export ZKJANITOR_YARN={standby.url},{active.url}   # standby first: zkjanitor finds the active RM")

        _say("what is in the store? (read-only)")
        _run(["scan"], env)
        _say("which znodes can Livy not even load? (the interactive ones; --type all lists every one)")
        _run(["scan", "--show", "corrupt", "--type", "interactive"], env)
        _say("what would a nightly prune delete? (dry run: changes nothing)")
        _run(["prune", "--older-than", "1d", "--limit", "5"], env)
        app_ids = {int(z.name): json.loads(z.data).get("appId") for z in scenario.old_znodes
                   if z.type is SessionType.BATCH and scenario.expected[(z.type, int(z.name))][0] == "stale"}
        stale_batches = sorted(i for i, app_id in app_ids.items() if app_id)[:LIVY_HOLDS]
        livy = LivyDouble(zk_hosts=server.connect_string, zk_prefix=PREFIX).start()
        for session_id in stale_batches:  # Livy knows their applications, as the store's records do
            livy.add_batch(id=session_id, appId=app_ids[session_id], state="dead")
        _say(f"Livy is up and holds {len(stale_batches):,} of the dead batches: delete those through Livy's own "
             "DELETE (it frees Livy's memory too), the rest in ZooKeeper, with a backup, as cron would")
        backup = workdir / "backup.jsonl"
        _run(["prune", "--older-than", "1d", "--livy", livy.url, "--apply", "--yes", "--backup", str(backup)], env)
        livy.stop()
        _say("the store afterwards: only live, young, unknown and corrupt sessions are left")
        _run(["scan"], env)
        _say("the CI gate")
        _run(["check", "--max-stale", "0", "--max-sessions", "5000"], env)
        _say("how the prune would be undone from its backup (a dry run; --apply restores)")
        _run(["restore", str(backup)], env)
        if keep:
            _wait_for_ctrl_c(server, standby, active, backup)
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ndemo finished; removed {workdir}")


def _wait_for_ctrl_c(server: ZooKeeperServer, standby: YarnDouble, active: YarnDouble, backup: Path) -> None:
    _say("ZooKeeper and YARN stay up: try the commands yourself, in another shell")
    scripts = Path(sys.executable).parent  # the venv's bin/, where `zkjanitor` is installed
    print(f"export PATH={scripts}:$PATH   # puts the demo's zkjanitor on PATH (or: source {scripts}/activate)")
    print(f"export ZKJANITOR_ZK={server.connect_string} ZKJANITOR_YARN={standby.url},{active.url}")
    print(f"zkjanitor scan --show stale      zkjanitor restore {backup} --apply      zkjanitor doctor")
    print("Press Ctrl-C here to stop them and remove the demo's files.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40_000, help="how many sessions to seed")
    parser.add_argument("--keep", action="store_true",
                        help="keep ZooKeeper and YARN running afterwards, until Ctrl-C, to try commands by hand")
    args = parser.parse_args(argv)
    demo(args.sessions, keep=args.keep)


if __name__ == "__main__":
    main()
