"""Where things are: the repository and the test data (tests/support/data)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
