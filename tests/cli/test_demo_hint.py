"""`make demo DEMO_ARGS=--keep` tells a new user how to run the demo's zkjanitor from another shell."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from zkjanitor.testing import demo


def test_the_keep_hint_puts_the_venvs_zkjanitor_on_path(monkeypatch, capsys):
    def interrupted(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo.time, "sleep", interrupted)
    rm = SimpleNamespace(url="http://127.0.0.1:8088")
    demo._wait_for_ctrl_c(SimpleNamespace(connect_string="127.0.0.1:2181"), rm, rm, Path("backup.jsonl"))
    printed = capsys.readouterr().out
    scripts = Path(sys.executable).parent
    assert f"export PATH={scripts}:$PATH" in printed
    assert os.access(scripts / "zkjanitor", os.X_OK) or pytest.skip("not run from an installed venv")
