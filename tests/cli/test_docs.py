"""The operator docs: they build without warnings, and what they document matches the tool.

- MkDocs builds the site in strict mode (any warning fails: a broken link or
  anchor, a page missing from the nav), so CI's ``make test`` builds the docs.
- docs/reference.md is the CLI's own ``--help``: it fails here when the two
  drift, with the command that regenerates it.
- Every verdict reason and every exit code the tool uses is explained.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from zkjanitor import errors
from zkjanitor.cli import EXIT_INTERRUPTED, cli
from zkjanitor.cli.common import EXIT_INTERNAL
from zkjanitor.cli.reference import render_reference
from zkjanitor.model import REASONS

DOCS = REPO / "docs"
REFERENCE = DOCS / "reference.md"
REGENERATE = "run `make reference` (python -m zkjanitor.cli.reference > docs/reference.md) and commit it"


def test_docs_build_strict_without_warnings(tmp_path):
    site = tmp_path / "site"
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        pytest.fail("MkDocs is not installed: pip install -e '.[docs]' (make test does)")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(site)],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    assert "WARNING" not in result.stderr, result.stderr
    for page in ("index.html", "reference/index.html", "runbook/index.html", "json/index.html"):
        assert (site / page).is_file(), f"{page} was not built"


def test_reference_is_generated_from_the_current_cli():
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        f"docs/reference.md differs from the CLI's --help: {REGENERATE}"
    )


@pytest.mark.parametrize("command", ["", *cli.commands])
def test_reference_shows_help_exactly_as_a_wide_terminal_prints_it(command):
    args = [command, "--help"] if command else ["--help"]
    result = subprocess.run([sys.executable, "-m", "zkjanitor", *args], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200"}, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert f"```text\n{result.stdout}```" in REFERENCE.read_text(encoding="utf-8"), (
        f"`zkjanitor {command} --help` is not in docs/reference.md verbatim: {REGENERATE}"
    )


def test_concepts_explains_every_verdict_reason():
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    for verdict, reasons in REASONS.items():
        assert f"`{verdict.value}`" in concepts
        for reason in reasons:
            assert f"`{reason}`" in concepts, f"docs/concepts.md does not explain reason {reason!r}"


def test_exit_codes_page_lists_every_exit_code():
    page = (DOCS / "exit-codes.md").read_text(encoding="utf-8")
    codes = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    codes |= {EXIT_INTERNAL, EXIT_INTERRUPTED}
    for code in sorted(codes):
        assert f"| {code} |" in page, f"docs/exit-codes.md does not explain exit code {code}"


def test_the_contract_names_only_options_the_cli_has_or_marks_them_planned():
    """docs/contract.md is kept current: an option it promises exists on every command, unless marked planned."""
    import re

    from zkjanitor.cli import COMMAND_MODULES

    contract = (DOCS / "contract.md").read_text(encoding="utf-8")
    rows = [line for line in contract.splitlines() if line.startswith("| `--")]
    promised = {re.match(r"\| `(--[a-z-]+)", row).group(1): "*(planned)*" in row for row in rows}
    assert "--zk" in promised and "--livy" in promised  # the table was read
    for name in COMMAND_MODULES:
        options = {opt for param in cli.commands[name].params for opt in getattr(param, "opts", [])}
        for option, planned in promised.items():
            assert (option in options) != planned, f"docs/contract.md: {option} on `{name}` (planned: {planned})"
