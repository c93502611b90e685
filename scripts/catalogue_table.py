"""Print the bad-input catalogue (tests/fixtures/bad_input.py) as a markdown table.

docs/quality.md holds its output between two marker lines; tests/test_docs_catalogue.py
checks that the two agree. Run from the project folder:

    .venv/bin/python scripts/catalogue_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.bad_input import CASES  # noqa: E402


def catalogue_table() -> str:
    """One row per case; its test id is test_each_input_has_its_outcome[<case>]."""
    lines = [
        "| # | case | input | outcome | also checked |",
        "|---|---|---|---|---|",
    ]
    for number, case in enumerate(CASES, start=1):
        outcome = case.outcome if case.phase == 1 else f"{case.outcome} (phase 2)"
        lines.append(f"| {number} | `{case.name}` | {case.input} | {outcome} | {case.note} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(catalogue_table())
